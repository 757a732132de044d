-- POSTs the JSON body in $WRK_BODY_FILE to $WRK_PATH on every request.
-- Counts X-Helios-Cache outcomes so a run can prove it measured hits.
local f = assert(io.open(os.getenv("WRK_BODY_FILE"), "r"))
wrk.method = "POST"
wrk.path = os.getenv("WRK_PATH")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
