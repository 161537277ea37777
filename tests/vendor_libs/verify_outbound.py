"""Verifies one Hookrail delivery with the official Standard Webhooks library.

Reads JSON on stdin: {"secret": "...", "headers": {...}, "body": "..."} and
prints {"ok": true} or {"ok": false, "error": "..."}. Always exits 0 so the
caller reads the verdict from stdout rather than from the exit code.
"""

import json
import sys

from standardwebhooks.webhooks import Webhook


def main() -> None:
    try:
        request = json.load(sys.stdin)
        Webhook(request["secret"]).verify(request["body"], request["headers"], json_parse=False)
    except Exception as err:  # any refusal, whatever its type, is a "no"
        print(json.dumps({"ok": False, "error": f"{type(err).__name__}: {err}"}, separators=(",", ":")))
        return
    print(json.dumps({"ok": True}, separators=(",", ":")))


if __name__ == "__main__":
    main()
