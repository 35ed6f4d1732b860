#!/usr/bin/env python3
"""A stand-in browser for the login tests.

mcp-tether opens the authorization URL with $BROWSER; this fetches it and
follows the redirects to mcp-tether's loopback callback, as a person
clicking through an auto-approving login would. Every URL it is given is
appended to $FAKE_BROWSER_LOG. It refuses any host that is not this machine.
With FAKE_BROWSER_IGNORE=1 it opens the tab and does nothing more, as a
person who ignores or closes it. With FAKE_BROWSER_ISS=<issuer> it hands the
callback that issuer as `iss`, as a mix-up attack would (RFC 9207). With
FAKE_BROWSER_DELAY=<seconds> it waits that long before signing in, as a
person slow in the browser. With FAKE_BROWSER_TRAIL=<file> it appends
every page a redirect takes it to.
"""

import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def loopback_only(url):
    host = urllib.parse.urlsplit(url).hostname
    if host not in LOOPBACK:
        sys.exit(f"fake browser: refusing to visit {host}")


def with_iss(url, iss):
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "iss"]
    query.append(("iss", iss))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


class LoopbackRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        loopback_only(newurl)
        trail = os.environ.get("FAKE_BROWSER_TRAIL")
        if trail:
            with open(trail, "a") as f:
                f.write(newurl + "\n")
        iss = os.environ.get("FAKE_BROWSER_ISS")
        if iss and "state=" in newurl:
            newurl = with_iss(newurl, iss)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


url = sys.argv[1]
log = os.environ.get("FAKE_BROWSER_LOG")
if log:
    with open(log, "a") as f:
        f.write(url + "\n")
loopback_only(url)
if os.environ.get("FAKE_BROWSER_IGNORE") == "1":
    sys.exit(0)
time.sleep(float(os.environ.get("FAKE_BROWSER_DELAY", "0")))
try:
    urllib.request.build_opener(LoopbackRedirects).open(url, timeout=30).read()
except urllib.error.HTTPError as e:
    # The callback's refusal page (a 400) is a page like any other.
    sys.stderr.write(f"fake browser: {e.code} from {e.url}\n")

