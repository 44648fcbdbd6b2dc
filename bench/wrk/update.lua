-- update.lua - admin writes: each request replaces the pairs of one of the credentials given
-- after `--` (round robin), with a value no earlier request used, so every request stores a
-- new revision. The Authorization header comes from wrk's -H.
dofile(os.getenv("COFFER_BENCH_WRK") .. "/report.lua")

local ids, n, tag = {}, 0, 0

function init(args)
  for i, id in ipairs(args) do ids[i] = id end
  tag = math.random(1, 1e9)
end

function request()
  n = n + 1
  local id = ids[(n % #ids) + 1]
  local body = string.format('{"credential_pairs": {"k_%s": "%d-%d"}}', id, tag, n)
  return wrk.format("PUT", "/v1/credentials/" .. id,
                    { ["Content-Type"] = "application/json" }, body)
end
