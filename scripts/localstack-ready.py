"""Is LocalStack at URL ready for Switchyard? Exit 0 when its /_localstack/health answers and every service named in
SERVICES (comma-separated, as LocalStack's own SERVICES variable) is "available" or "running"; exit 1 otherwise,
saying why on stderr.

Used by scripts/stack.sh (host mode: `make test-localstack`, `make up EMULATOR=localstack`) to wait for it, and by
docker-compose.yml's localstack healthcheck, so both call LocalStack ready on the same evidence. Standard library
only (it runs on the LocalStack image's Python too).

    python3 scripts/localstack-ready.py URL SERVICES
"""

import json
import sys
import urllib.request

READY = {"available", "running"}


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    url, services = sys.argv[1].rstrip("/"), [s.strip() for s in sys.argv[2].split(",") if s.strip()]
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=2) as response:
            health = json.load(response)
    except (OSError, ValueError) as e:
        print(f"{url}/_localstack/health: {e}", file=sys.stderr)
        return 1
    states = health.get("services", {})
    waiting = {s: states.get(s, "absent") for s in services if states.get(s) not in READY}
    if waiting:
        print(f"LocalStack {health.get('version', '?')} at {url}: not ready: {waiting}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
