-- POST pre-signed Twilio webhooks, each body once (unique MessageSid) while the file lasts.
--   wrk -t2 -c16 -d10s -s bench/wrk/signed_posts.lua URL -- BODIES.tsv THREADS [DELAY_MS]
-- BODIES.tsv: one "X-Twilio-Signature<TAB>urlencoded form" per line (bench/webhook_load.py writes it).
-- Thread k of n sends lines k, k+n, k+2n…, so no two threads send the same MessageSid. A thread that runs
-- past the end starts again (its repeats are then duplicates, counted in "wrapped").
-- DELAY_MS > 0 paces each connection (wrk is closed-loop: this is how a fixed, lower load is offered).
-- done() prints one JSON line starting with "WRKJSON " for the caller to read.

local threads, counter = {}, 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local signatures, bodies, position, step, wrapped, pause = {}, {}, 0, 1, 0, 0
local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}

function init(args)
  for line in io.lines(args[1]) do
    local signature, body = line:match("^([^\t]*)\t(.*)$")
    if signature then
      signatures[#signatures + 1] = signature
      bodies[#bodies + 1] = body
    end
  end
  step = tonumber(args[2]) or 1
  position = id - step
  pause = tonumber(args[3] or "0") or 0
end

function request()
  position = position + step
  if position > #bodies then
    position = id
    wrapped = wrapped + 1
  end
  headers["X-Twilio-Signature"] = signatures[position]
  return wrk.format("POST", nil, headers, bodies[position])
end

function delay()
  return pause
end

function response(status, _headers, _body)
  -- Counting here (and not only in summary.errors.status) lets the caller tell 4xx from 5xx.
  if status >= 500 then server_errors = (server_errors or 0) + 1
  elseif status >= 400 then client_errors = (client_errors or 0) + 1 end
  if status < 400 then wrapped_seen = wrapped end
end

function done(summary, latency, requests)
  local wraps, c4, c5 = 0, 0, 0
  for _, thread in ipairs(threads) do
    wraps = wraps + (thread:get("wrapped") or 0)
    c4 = c4 + (thread:get("client_errors") or 0)
    c5 = c5 + (thread:get("server_errors") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "timeouts": %d, "non_2xx": %d, "status_4xx": %d, "status_5xx": %d, "wrapped": %d, ' ..
    '"mean_us": %.1f, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status, c4, c5, wraps,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
