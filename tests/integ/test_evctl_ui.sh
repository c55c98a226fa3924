#!/usr/bin/env bash
# test_evctl_ui: evctl ui, the local dashboard, in a real browser (Debian's
# chromium, headless) against a real evd holding timers, runs (a hook that
# fails, one that succeeds) and dead letters of two users: root and
# nobody (a user with a passwd entry, so that evd runs its hooks). Each
# user's dashboard shows its own timers and not the other's, root's shows
# both; an /api/ request without the token in X-Evd-Token gets 403 (a
# cookie or ?token= is not enough, and no answer sets a cookie), the page
# alone holds no data, a wrong Host or a cross-origin POST is refused, an action (cancel, requeue) works with the
# token and a same-origin Origin; attacker-chosen text stays text; Ctrl-C
# stops it. A screenshot of root's dashboard is kept under the build
# directory's Testing/ (path printed).
# Needs root, setpriv and curl (else 77) and chromium (else 77, unless
# EVD_REQUIRE_CHROMIUM=1, as CI sets, which makes its absence a failure).
# usage: test_evctl_ui.sh EVD_BIN EVCTL_BIN BUILD_DIR
set -u
EVD=$1
EVCTL=$2
BUILD=$3
OTHER=nobody

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null ||
	! command -v curl >/dev/null || ! id -u "$OTHER" >/dev/null 2>&1; then
	echo "test_evctl_ui: needs root, setpriv, curl and a '$OTHER' user; skipped"
	exit 77
fi
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
	if [ "${EVD_REQUIRE_CHROMIUM:-0}" = 1 ]; then
		echo "test_evctl_ui: chromium is not installed, and EVD_REQUIRE_CHROMIUM=1"
		exit 1
	fi
	echo "test_evctl_ui: chromium is not installed (apt-get install chromium); skipped"
	exit 77
fi
OUID=$(id -u "$OTHER")

dir=$(mktemp -d /tmp/evd-ui.XXXXXX)
chmod 0755 "$dir"
# The other user runs copies (copybin.sh says why).
. "$(dirname "$0")/copybin.sh"
copy_binaries_for_others || exit 1
ui_pids=()
cleanup_extra() {
	local p
	for p in "${ui_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
}
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

sock=$dir/evd.sock
start_evd "$sock" --store memory --state-dir "$dir/state"
R() { "$EVCTL" --socket "$sock" "$@"; }
O() { (cd / && setpriv --reuid="$OUID" --regid="$OUID" --clear-groups \
	env HOME=/ "$EVCTL" --socket "$sock" "$@"); }

# What each user has: a pending timer, a failed run with output, a good
# run, a dead letter (with a payload that would be markup if a page put it
# in innerHTML).
R later 1h --quiet --exec -- /bin/echo root-pending-marker >"$dir/r_pend" &&
	R later 0s --quiet --shell 'echo root-out-marker; echo root-err-marker >&2; exit 3' \
		>/dev/null &&
	R later 0s --quiet --exec -- /bin/echo root-ok-marker >/dev/null &&
	R later 0s --quiet --channel uiroot --max-attempts 1 \
		--payload '<img src=x onerror=document.title=1>root-dead-marker' >/dev/null &&
	R on '15 */2 * * *' --quiet --shell 'echo nightly-backup' >/dev/null &&
	O later 2h --quiet --cwd / --shell 'echo other-pending-marker' >"$dir/o_pend" &&
	O later 40m --every 3h --quiet --cwd / --exec -- /bin/echo report >/dev/null &&
	O later 0s --quiet --cwd / --shell 'echo other-err-marker >&2; exit 5' >/dev/null &&
	O later 0s --quiet --cwd / --exec -- /bin/true >/dev/null &&
	O later 0s --quiet --channel uiother --max-attempts 1 \
		--payload other-dead-marker >/dev/null
check "timers of both users scheduled" test $? -eq 0
rpend=$(cat "$dir/r_pend")
opend=$(cat "$dir/o_pend")
# Consumers that fail: each message goes to its channel's dead letters.
R watch uiroot --count 1 --timeout 10s -- /bin/false >/dev/null 2>&1
O watch uiother --count 1 --timeout 10s -- /bin/false >/dev/null 2>&1
ran() { [ "$(R list --all --json | grep -c '"result":"\(ok\|exit [0-9]*\)"')" -ge 4 ]; }
check "the hooks ran" await ran
check "dead letters in both channels" await \
	test "$(R dead uiroot | wc -l)$(O dead uiother | wc -l)" = 11

# The dashboards, one per user; the URL with its token is the first line.
start_ui() { # name, command prefix...
	local name=$1 _
	shift
	"$@" --socket "$sock" ui --no-open >"$dir/$name.out" 2>"$dir/$name.err" &
	ui_pids+=($!)
	for _ in $(seq 1 200); do
		grep -q 'http://' "$dir/$name.out" && break
		sleep 0.05
	done
}
start_ui root "$EVCTL"
rpid=${ui_pids[0]}
start_ui other setpriv --reuid="$OUID" --regid="$OUID" --clear-groups \
	env HOME=/ "$EVCTL"
rurl=$(grep -o 'http://[^ ]*' "$dir/root.out")
ourl=$(grep -o 'http://[^ ]*' "$dir/other.out")
# The token is in the fragment, which the browser sends to no server.
check "evctl ui prints a loopback URL with the token in its fragment (root)" \
	grep -Eq '^http://127\.0\.0\.1:[0-9]+/#token=[0-9a-f]{32}$' <<<"$rurl"
check "evctl ui prints a loopback URL with the token in its fragment (other user)" \
	grep -Eq '^http://127\.0\.0\.1:[0-9]+/#token=[0-9a-f]{32}$' <<<"$ourl"
rbase=${rurl%%/#token=*}
rtok=${rurl##*token=}
obase=${ourl%%/#token=*}
rhost=${rbase#http://}

browse() { # out file, url, extra chromium args...
	local out=$1 url=$2
	shift 2
	HOME=$dir/chrome timeout 90 "$CHROMIUM" --headless --no-sandbox \
		--disable-gpu --no-first-run --user-data-dir="$dir/chrome/profile" \
		--hide-scrollbars --virtual-time-budget=6000 "$@" "$url" \
		>"$out" 2>>"$dir/chromium.log"
}
mkdir -p "$dir/chrome"
browse "$dir/root.dom" "$rurl" --dump-dom
browse "$dir/other.dom" "$ourl" --dump-dom
has() { grep -q -- "$2" "$1"; }
hasnt() { ! grep -q -- "$2" "$1"; }
check "root's page loaded its data" has "$dir/root.dom" 'data-loaded="1"'
check "the other user's page loaded its data" has "$dir/other.dom" 'data-loaded="1"'
check "root sees its own timer" has "$dir/root.dom" root-pending-marker
check "root sees the other user's timer" has "$dir/root.dom" other-pending-marker
check "the other user sees its own timer" has "$dir/other.dom" other-pending-marker
check "the other user does not see root's timers" \
	hasnt "$dir/other.dom" 'root-[a-z]*-marker'
check "timers carry their ids" has "$dir/root.dom" "data-timer-id=\"$rpend\""
check "a failed run is highlighted" has "$dir/root.dom" 'class="failed" data-timer-id="[0-9]*" data-result="exit 3"'
check "with its stderr tail" has "$dir/root.dom" root-err-marker
check "and its stdout tail" has "$dir/root.dom" root-out-marker
check "the other user sees its own failed run" has "$dir/other.dom" 'data-result="exit 5"'
check "a good run shows ok" has "$dir/root.dom" 'data-result="ok"'
check "root sees both channels" has "$dir/root.dom" "data-channel=\"$OUID:uiother\""
check "the other user sees only its channel" hasnt "$dir/other.dom" 'data-channel="[0-9:]*uiroot"'
check "dead letters are listed" has "$dir/other.dom" other-dead-marker
check "a payload's markup stays text" has "$dir/root.dom" '&lt;img src=x onerror'
check "and is never an element" hasnt "$dir/root.dom" '<img'
check "the timeline is drawn" has "$dir/root.dom" '<circle'
check "with a calendar timer's fires of the day" \
	test "$(grep -o '<title>#[0-9]* at' "$dir/root.dom" | sort | uniq -c | sort -rn |
		awk 'NR == 1 { print $1 }')" -ge 11
check "the lateness histogram is drawn" has "$dir/root.dom" 'class="bar"'
# The page without the fragment (a fresh browser: no sessionStorage).
browse "$dir/notoken.dom" "$rbase/" --dump-dom
check "without the token the page says where to get it" \
	has "$dir/notoken.dom" 'role="status"[^>]*>no token: open the URL evctl ui printed<'
check "and knows it has none" has "$dir/notoken.dom" 'data-no-token="1"'
check "and shows no data" hasnt "$dir/notoken.dom" 'data-loaded="1"\|-marker'

# The screenshot, kept as the test's artifact.
mkdir -p "$BUILD/Testing"
shot=$BUILD/Testing/evctl-ui.png
rm -f "$shot"
browse /dev/null "$rurl" --window-size=1280,900 --screenshot="$shot"
# What the opener gives the browser: a file that redirects to the URL.
printf '<!DOCTYPE html><meta http-equiv="refresh" content="0;url=%s">\n' \
	"$rurl" >"$dir/open.html"
# The refresh is a second navigation, from file: to http:, which headless
# chromium's virtual time does not wait for; on a loaded machine the DOM can
# be dumped before it ends. Three tries, so only a redirect that never opens
# the dashboard fails.
for try in 1 2 3; do
	browse "$dir/opened.dom" "file://$dir/open.html" --dump-dom
	has "$dir/opened.dom" 'data-loaded="1"' && break
	echo "test_evctl_ui: try $try of the redirect dumped:" \
		"$(head -c 300 "$dir/opened.dom" | tr '\n' ' ')"
done
check "a redirect from a local file opens the dashboard" \
	has "$dir/opened.dom" 'data-loaded="1"'
check "a screenshot was taken" test "$(head -c 4 "$shot" 2>/dev/null | tail -c 3)" = PNG
echo "test_evctl_ui: screenshot of root's dashboard: $shot"

# The token and the origin checks, by hand.
code() { curl -s -o "$dir/body" -w '%{http_code}' "$@"; }
check "no token: 403" test "$(code "$rbase/api/timers")" = 403
check "the page needs no token: 200" test "$(code "$rbase/")" = 200
check "it is the static page, byte for byte: no data in it" \
	cmp -s "$dir/body" "$(dirname "$0")/../../client/evctl/ui/index.html"
check "a token in the query is not one: 403" \
	test "$(code "$rbase/api/timers?token=$rtok")" = 403
check "a wrong token: 403" \
	test "$(code -H "X-Evd-Token: 0123456789abcdef0123456789abcdef" "$rbase/api/timers")" = 403
check "another user's token: 403" \
	test "$(code -H "X-Evd-Token: ${ourl##*token=}" "$rbase/api/timers")" = 403
check "the token in a header: 200" \
	test "$(code -H "X-Evd-Token: $rtok" "$rbase/api/timers")" = 200
# Cookies go to every port of the host: the old cookie is no key.
check "the token in a cookie, without the header: 403" \
	test "$(code -b "evd_ui_${rhost##*:}=$rtok" "$rbase/api/channels")" = 403
check "another name in Host (DNS rebinding): 403" \
	test "$(code -H "Host: evil.example:${rhost##*:}" -H "X-Evd-Token: $rtok" \
		"$rbase/api/timers")" = 403
code -D "$dir/headers" "$rbase/" >/dev/null
for h in "Content-Security-Policy: default-src 'self'" \
	"X-Content-Type-Options: nosniff" "Cache-Control: no-store" \
	"Referrer-Policy: no-referrer"; do
	check "the page is sent with $h" grep -qiF "$h" "$dir/headers"
done
# No answer sets a cookie: the page, its files, the old ?token= URL, the
# API, an action.
heads() { code -D - "$@" && echo; }
{
	for u in "$rbase/" "$rbase/ui.js" "$rbase/ui.css" "$rbase/?token=$rtok" \
		"$rbase/api/timers?token=$rtok"; do
		heads "$u"
	done
	heads -H "X-Evd-Token: $rtok" "$rbase/api/timers"
	heads -X POST -H "X-Evd-Token: $rtok" -H "Origin: $rbase" \
		"$rbase/api/timers/999999/pause"
} >"$dir/allheaders"
check "answers were read" test "$(grep -c '^HTTP/' "$dir/allheaders")" = 7
check "and none sets a cookie" bash -c '! grep -qi "^set-cookie" "$1"' _ "$dir/allheaders"
# A page of another origin must pass a CORS preflight to send the header:
# none is ever approved.
code -X OPTIONS -D "$dir/preflight" -H "Origin: http://127.0.0.1:8000" \
	-H "Access-Control-Request-Method: POST" \
	-H "Access-Control-Request-Headers: x-evd-token" \
	"$rbase/api/timers/$rpend/cancel" >"$dir/preflight.code"
check "a CORS preflight is not approved" \
	bash -c '! grep -q "^2" "$1"' _ "$dir/preflight.code"
check "and answered with no Access-Control header" \
	bash -c '! grep -qi "^access-control-" "$1"' _ "$dir/preflight"
post() { # path, curl args...
	local p=$1
	shift
	code -X POST -H "X-Evd-Token: $rtok" "$@" "$rbase$p"
}
check "a cross-origin POST is refused" \
	test "$(post "/api/timers/$rpend/cancel" -H "Origin: http://evil.example")" = 403
check "a POST without Origin is refused" \
	test "$(post "/api/timers/$rpend/cancel")" = 403
check "a GET cannot cancel" \
	test "$(code -H "X-Evd-Token: $rtok" "$rbase/api/timers/$rpend/cancel")" = 405
check "a cross-site fetch is refused" \
	test "$(code -H "X-Evd-Token: $rtok" -H "Sec-Fetch-Site: cross-site" "$rbase/api/timers")" = 403
# Another port of 127.0.0.1 is the same site, not the same origin.
check "a same-site fetch (another local port) is refused" \
	test "$(code -H "X-Evd-Token: $rtok" -H "Sec-Fetch-Site: same-site" "$rbase/api/timers")" = 403
check "but the page may come from anywhere (the opener's file)" \
	test "$(code -H "Sec-Fetch-Site: cross-site" "$rbase/")" = 200
check "the API may not, even with the token" \
	test "$(code -H "X-Evd-Token: $rtok" -H "Sec-Fetch-Site: cross-site" -H "Origin: http://127.0.0.1:8000" "$rbase/api/timers")" = 403
check "a same-origin fetch is fine" \
	test "$(code -H "X-Evd-Token: $rtok" -H "Sec-Fetch-Site: same-origin" "$rbase/api/timers")" = 200
check "HEAD works" \
	test "$(curl -s -I -o /dev/null -w '%{http_code}' -H "X-Evd-Token: $rtok" "$rbase/ui.js")" = 200
check "an unknown path is 404" \
	test "$(code -H "X-Evd-Token: $rtok" "$rbase/etc/passwd")" = 404
check "a large request is refused" \
	test "$(code -H "X-Evd-Token: $rtok" -H "X-Pad: $(head -c 10000 /dev/zero | tr '\0' a)" "$rbase/api/timers")" != 200
check "so the timer is still pending" \
	grep -q '"state":"pending"' <(R get "$rpend" --json)
check "a POST without the token is refused" \
	test "$(code -X POST -H "Origin: $rbase" "$rbase/api/timers/$rpend/cancel")" = 403
check "the other user's dashboard cannot cancel root's timer" \
	test "$(code -X POST -H "X-Evd-Token: ${ourl##*token=}" -H "Origin: $obase" \
		"$obase/api/timers/$rpend/cancel")" = 404
check "a same-origin POST with the token cancels" \
	test "$(post "/api/timers/$rpend/cancel" -H "Origin: $rbase")" = 200
check "and answers JSON" grep -q '"ok":true' "$dir/body"
check "the timer is cancelled" \
	grep -q '"state":"cancelled"' <(R get "$rpend" --json)
check "the JSON view says so" \
	grep -q "{\"id\":$rpend,[^}]*\"state\":\"cancelled\"" \
	<(curl -s -H "X-Evd-Token: $rtok" "$rbase/api/timers")
browse "$dir/root2.dom" "$rurl" --dump-dom
row=$(grep -o "<tr data-timer-id=\"$rpend\"[^>]*>.*" "$dir/root2.dom" | head -n1 |
	sed 's#</tr>.*##')
check "the page shows it cancelled" grep -q '<td>cancelled</td>' <<<"$row"
check "and no longer offers to cancel it" \
	test "$(grep -c 'data-action="cancel"' <<<"$row")" = 0
check "requeueing a dead letter works" \
	test "$(post "/api/dead/requeue?channel=uiroot" -H "Origin: $rbase")" = 200
check "and moved it" test "$(R dead uiroot | wc -l)" = 0
check "pausing works" \
	test "$(post "/api/timers/$opend/pause" -H "Origin: $rbase")" = 200
check "and resuming" \
	test "$(post "/api/timers/$opend/resume" -H "Origin: $rbase")" = 200
check "a refused action says why" \
	test "$(post "/api/timers/$rpend/pause" -H "Origin: $rbase")" = 404
check "runs of one timer" \
	test "$(code -H "X-Evd-Token: $rtok" "$rbase/api/timers/$opend/runs")" = 200
check "the stats view has the histogram" \
	grep -q '"lateness":{"runs":[1-9]' <(curl -s -H "X-Evd-Token: $rtok" "$rbase/api/stats")
check "the stats view has no node outside cluster mode" \
	grep -q '"node":null' <(curl -s -H "X-Evd-Token: $rtok" "$rbase/api/stats")

# Only loopback.
"$EVCTL" --socket "$sock" ui --no-open --listen 0.0.0.0:0 2>"$dir/any.err"
check "a non-loopback --listen is refused (exit 2)" test $? -eq 2
check "saying why" grep -q "not a loopback address" "$dir/any.err"
"$EVCTL" --socket "$sock" ui --no-open --listen 10.1.2.3:0 2>/dev/null
check "so is any other address" test $? -eq 2

# evctl hands ui to evctl-ui (evctl_ui_exec.c) and links no libevent,
# whose start-up every evctl call would pay for.
check "evctl does not link libevent" bash -c "! ldd '$EVCTL' | grep -q libevent"
check "evctl-ui sits next to evctl" test -x "$(dirname "$EVCTL")/evctl-ui"
# A helper that is evctl again (no dashboard in it) stops at once.
mkdir -p "$dir/loop"
cp "$EVCTL" "$dir/loop/evctl"
cp "$EVCTL" "$dir/loop/evctl-ui"
timeout 10 "$dir/loop/evctl" --socket "$sock" ui --no-open 2>"$dir/loop.err"
check "a helper that hands ui back stops (exit 3)" test $? -eq 3
check "saying so" grep -q "evctl-ui is not built with the dashboard" "$dir/loop.err"

# Ctrl-C stops it, cleanly (exit 0; under ASan, no leak).
kill -INT "$rpid"
stopped() { ! kill -0 "$rpid" 2>/dev/null; }
check "SIGINT stops evctl ui" await stopped
wait "$rpid"
check "with exit status 0" test $? -eq 0

show_failure() {
	echo "--- root's ui:"; cat "$dir/root.out" "$dir/root.err"
	echo "--- other's ui:"; cat "$dir/other.out" "$dir/other.err"
	echo "--- evd:"; tail -n 30 "$dir/evd.log"
	echo "--- chromium:"; tail -n 20 "$dir/chromium.log"
}
summary
