"""bench/report.py - turns bench/run's measurements (JSON lines in $RESULTS) into the Markdown
table on stdout and one JSON document on file descriptor 3, each figure beside its target."""
import json
import os

env = os.environ
rows = [json.loads(line) for line in open(env["RESULTS"]) if line.strip()]
by = {r["name"]: r for r in rows}
ceiling = by["ceiling"]["result"]["rps"]
LABELS = {
    "ceiling": "bare civetweb handler (the ceiling)",
    "healthcheck": "`GET /healthcheck`",
    "warm_fetch": "warm bundle fetch, 10 × 5 pairs, audited",
    "revalidate_304": "`If-None-Match` → 304, audited",
    "cold_fetch": "cold fetch (data-key and bundle caches off), audited",
    "fleet_boot": f"fleet boot: {env.get('SERVICES', '1000')} services, new tokens, one fetch each",
    "admin_update": "admin credential update (a new revision each)",
    "auditor_page": f"auditor filtered page (4 connections), {int(env['LOG_ROWS']):,} log rows",
}
TARGETS = {  # name: (text, check(result, measurement))
    "healthcheck": ("≥ 0.8 × ceiling", lambda r, m: r["rps"] >= 0.8 * ceiling),
    "warm_fetch": ("≥ 0.35 × ceiling, p99 ≤ 5 ms, CPU ≤ 0.1 ms",
                   lambda r, m: r["rps"] >= 0.35 * ceiling and r["p99_ms"] <= 5
                   and m["cpu_ms"] <= 0.1),
    "revalidate_304": ("≥ 0.6 × ceiling", lambda r, m: r["rps"] >= 0.6 * ceiling),
    "cold_fetch": ("first fetch 1 + 10 KMS calls", lambda r, m: int(env["COLD_FIRST_KMS"]) == 11),
    "fleet_boot": ("≤ 2 s (local KMS), RSS ≤ 32 MiB",
                   lambda r, m: r["seconds"] <= 2 and int(env["FLEET_RSS"]) <= 32 * 1024),
    "admin_update": ("≥ 500/s", lambda r, m: r["rps"] >= 500),
    "auditor_page": ("p99 ≤ 10 ms", lambda r, m: r["p99_ms"] <= 10),
}
out = []
for m in rows:
    r = m["result"]
    m["errors"] = r.get("errors", 0) + r.get("non_2xx_3xx", 0) + r.get("other_status", 0)
    m["cpu_ms"] = m["cpu_ticks"] / m["clk_tck"] * 1000 / max(r["requests"], 1)
    m["pg_cpu_ms"] = m.get("pg_ticks", 0) / m["clk_tck"] * 1000 / max(r["requests"], 1)
    m["ratio"] = r["rps"] / ceiling
    target = TARGETS.get(m["name"])
    m["target"] = target[0] if target else ""
    m["met"] = bool(target[1](r, m)) and m["errors"] == 0 if target else None
    out.append(m)

print(f"Run {env['STAMP']} on {env['MACHINE']}.  ")
print(f"Command: `{env['COMMAND']}` (wrk -t2 -c{env['CONNS']}, {env['SECS']} s each; "
      f"KMS backend `{env['KMS']}`; PostgreSQL with synchronous_commit on; cofferd with "
      "COFFER_LOG_LEVEL=warn, so no log line per request, the access-log rows all written; load "
      "generator on the same machine).\n")
print("| measurement | req/s | p50 ms | p99 ms | max ms | errors | × ceiling | cofferd CPU/req ms "
      "| PostgreSQL CPU/req ms | RSS MiB | target | met |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
for m in out:
    r = m["result"]
    met = "" if m["met"] is None else ("yes" if m["met"] else "**no**")
    print(f"| {LABELS.get(m['name'], m['name'])} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | "
          f"{r['p99_ms']:.2f} | {r['max_ms']:.1f} | {m['errors']} | {m['ratio']:.3f} | "
          f"{m['cpu_ms']:.3f} | {m['pg_cpu_ms']:.3f} | {m['rss_kib'] / 1024:.1f} | "
          f"{m['target']} | {met} |")
fleet = by["fleet_boot"]["result"]
print()
print(f"- Fleet boot: all {fleet['requests']} services served in {fleet['seconds']:.2f} s with "
      f"{env['FLEET_KMS']} KMS calls; cofferd RSS afterwards {int(env['FLEET_RSS']) / 1024:.1f} MiB.")
print(f"- Cold fetch: the first fetch after a restart made {env['COLD_FIRST_KMS']} KMS calls "
      f"(1 token + 10 data keys); under load with the caches off, "
      f"{int(env['COLD_KMS']) / max(by['cold_fetch']['result']['requests'], 1):.2f} KMS calls "
      "per fetch (the token stays in the authentication cache).")
if env.get("SYSCALLS"):
    print(f"- System calls per warm fetch in cofferd (strace -c -f, 2,000 fetches by 4 clients; "
          f"the audit writer's and the change listener's included): {env['SYSCALLS']}.")
doc = {"date": env["STAMP"], "machine": env["MACHINE"], "command": env["COMMAND"],
       "ceiling_rps": ceiling, "fleet_kms_calls": int(env["FLEET_KMS"]),
       "fleet_rss_kib": int(env["FLEET_RSS"]), "cold_first_fetch_kms_calls":
       int(env["COLD_FIRST_KMS"]), "cold_kms_calls": int(env["COLD_KMS"]),
       "audit_log_rows": int(env["LOG_ROWS"]), "syscalls_per_warm_fetch": env.get("SYSCALLS", ""),
       "measurements": out}
with os.fdopen(3, "w") as f:
    json.dump(doc, f, indent=1)
    f.write("\n")
