-- Stores distinct L2-only entries with 1 KiB responses: thread t sends
-- inputs "fill t-i ..." for i = 1..$FILL_PER_THREAD, then only GET /health
-- (the driving script stops wrk once /metrics counts every entry).
local per_thread = tonumber(os.getenv("FILL_PER_THREAD") or "0")
local path = "/api/v1/helios/cache/store"
local health = "/api/v1/helios/cache/health"
local headers = { ["Content-Type"] = "application/json" }
local head = '{"answer":"'
local answer = head .. string.rep("x", 1024 - #head - 2) .. '"}'
local threads = 0
local n = 0

function setup(thread)
    thread:set("tid", threads)
    threads = threads + 1
end

function request()
    if n >= per_thread then
        return wrk.format("GET", health)
    end
    n = n + 1
    local body = string.format(
        '{"input_text":"fill %d-%d: what is the status of shipment %d?","response_data":%s,'
            .. '"store_in_l1":false,"store_in_l3":false,"tokens_used":150,"ttl_seconds":86400}',
        tid, n, n, answer)
    return wrk.format("POST", path, headers, body)
end
