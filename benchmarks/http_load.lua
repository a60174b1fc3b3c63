-- wrk script of the HTTP benchmark's saturation run (benchmarks/phases/http.py writes the
-- bodies file and reads the one JSON line `done` prints).
--
--   wrk -t1 -c64 -d20s -s benchmarks/http_load.lua URL -- BODIES_FILE API_KEY
--
-- BODIES_FILE holds the checks' bodies, each as "<length>\n<bytes>" (a body may hold any
-- byte). Each connection posts the bodies in turn to /v1/check; statuses are counted per
-- thread and summed in `done`.

local bodies = {}
counts = {}  -- a global: `done` reads it from each thread
local threads = {}
local headers = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local data = file:read("*a")
  file:close()
  local at = 1
  while at <= #data do
    local newline = string.find(data, "\n", at, true)
    local length = tonumber(string.sub(data, at, newline - 1))
    table.insert(bodies, string.sub(data, newline + 1, newline + length))
    at = newline + length + 1
  end
  headers["Authorization"] = "Bearer " .. args[2]
  headers["Content-Type"] = "application/json"
  -- threads start at different places of the list
  next_body = (math.floor(math.random() * #bodies)) + 1
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format("POST", "/v1/check", headers, body)
end

function response(status, response_headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local sums = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do
      sums[status] = (sums[status] or 0) + n
    end
  end
  local statuses = {}
  for status, n in pairs(sums) do
    statuses[#statuses + 1] = string.format('"%d": %d', status, n)
  end
  io.write(string.format(
    '{"requests": %d, "microseconds": %d, "errors": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"statuses": {%s}}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), table.concat(statuses, ", ")))
end
