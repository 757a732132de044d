-- POSTs to $WRK_PATH, cycling through the JSON bodies of $WRK_BODY_FILE
-- (one per line); each thread starts at a different offset.
local bodies = {}
for line in io.lines(os.getenv("WRK_BODY_FILE")) do
    if #line > 0 then bodies[#bodies + 1] = line end
end
local path = os.getenv("WRK_PATH")
local headers = { ["Content-Type"] = "application/json" }
local i = 0
local threads = 0

function setup(thread)
    thread:set("offset", threads * 7919)
    threads = threads + 1
end

function request()
    i = i + 1
    local body = bodies[((offset or 0) + i) % #bodies + 1]
    return wrk.format("POST", path, headers, body)
end
