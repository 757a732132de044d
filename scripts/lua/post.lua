-- POSTs the JSON body in $WRK_BODY_FILE to $WRK_PATH on every request.
-- (load_l2.sh checks the probe is a hit first and the server's hit count after.)
local f = assert(io.open(os.getenv("WRK_BODY_FILE"), "r"))
wrk.method = "POST"
wrk.path = os.getenv("WRK_PATH")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
