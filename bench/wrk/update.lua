-- update.lua - admin writes: each request replaces the pairs of one of the credentials given
-- after `--` (round robin), with a value no earlier request used, so every request stores a
-- new revision. The Authorization header comes from wrk's -H.
dofile(os.getenv("COFFER_BENCH_WRK") .. "/report.lua")

local ids, n, tag = {}, 0, 0
local threads = 0

-- each thread starts at its own place in the list and tags its values with its own number
function setup(thread)
  thread:set("offset", threads * 97)
  threads = threads + 1
end

function init(args)
  for i, id in ipairs(args) do ids[i] = id end
  n = offset
  tag = os.time() * 100 + offset
end

function request()
  n = n + 1
  local id = ids[(n % #ids) + 1]
  local body = string.format('{"credential_pairs": {"k_%s": "%d-%d"}}', id, tag, n)
  local headers = {} -- wrk.format takes these instead of wrk.headers (the -H ones)
  for k, v in pairs(wrk.headers) do headers[k] = v end
  headers["Content-Type"] = "application/json"
  return wrk.format("PUT", "/v1/credentials/" .. id, headers, body)
end

local reported = false
function response(status, headers, body)
  if status >= 300 and not reported then
    reported = true
    io.stderr:write("update.lua: first refusal: " .. status .. " " .. body .. "\n")
  end
end
