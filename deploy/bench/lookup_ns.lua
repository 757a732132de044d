-- wrk script of deploy/bench/throughput.sh: POSTs L2 lookups to $WRK_PATH,
-- cycling through the lines of $WRK_BODY_FILE, each "NAMESPACE<TAB>JSON".
-- Every request carries X-Helios-Namespace = the body's namespace, as the
-- Python client does, so the balancer routes it without reading the body.
local lines = {}
for line in io.lines(os.getenv("WRK_BODY_FILE")) do
    local ns, body = line:match("^([^\t]+)\t(.+)$")
    if ns then lines[#lines + 1] = { ns, body } end
end
assert(#lines > 0, "no requests in WRK_BODY_FILE")
local reqs = {}

-- Requests are formatted in init(), once wrk knows the Host header (at load
-- time it does not, and a request without Host is a 400).
function init(args)
    local path = os.getenv("WRK_PATH")
    for k, l in ipairs(lines) do
        reqs[k] = wrk.format("POST", path, {
            ["Content-Type"] = "application/json",
            ["X-Helios-Namespace"] = l[1],
        }, l[2])
    end
end
local i = 0
local threads = 0

function setup(thread)
    thread:set("offset", threads * 7919)
    threads = threads + 1
end

function request()
    i = i + 1
    return reqs[((offset or 0) + i) % #reqs + 1]
end
