-- POSTs the JSON body in $WRK_BODY_FILE to $WRK_PATH with the provider
-- headers of the gateway, and X-Helios-Cache-Control from $WRK_CACHE_CONTROL
-- when set (bench_gateway.sh: "no-cache" makes every request a miss).
local f = assert(io.open(os.getenv("WRK_BODY_FILE"), "r"))
wrk.method = "POST"
wrk.path = os.getenv("WRK_PATH")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = "bench-key"
wrk.headers["anthropic-version"] = "2023-06-01"
local cc = os.getenv("WRK_CACHE_CONTROL")
if cc and cc ~= "" then
    wrk.headers["X-Helios-Cache-Control"] = cc
end
