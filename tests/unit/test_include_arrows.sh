#!/bin/sh
# The include arrows between the top-level folders (STYLE.md, "Layers"):
# lib/ (pure time code) includes nothing of daemon/, client/ or proto/;
# daemon/ includes no client/ header and client/ no daemon/ header; and
# no CMake target of one folder compiles another folder's sources (the
# daemon once built client/calendar.c); inside daemon/, no upward arrow
# out of the transport (conn) or the batch. Quoted includes are matched
# by file name against the headers each folder has. The scheduler and
# the store do not reach evd.pb-c.h (the protocol's enums and messages).
# Usage: test_include_arrows.sh SOURCE_DIR
set -u
src=${1:?usage: test_include_arrows.sh SOURCE_DIR}
cd "$src" || exit 1
fail=0

headers() { # folder -> the basenames of its headers, one per line
	find "$@" -name '*.h' -exec basename {} \; | sort -u
}

# check FROM_FOLDER TO_FOLDER...: no file under FROM includes a header
# that exists only in TO.
check() {
	from=$1
	shift
	own=$(headers "$from")
	for h in $(headers "$@"); do
		# A header of the same name in FROM is FROM's own.
		if printf '%s\n' "$own" | grep -qx "$h"; then
			continue
		fi
		hits=$(grep -rn --include='*.c' --include='*.h' \
			"^#[[:space:]]*include[[:space:]]*\"\([^\"]*/\)\{0,1\}$h\"" \
			"$from" 2>/dev/null)
		if [ -n "$hits" ]; then
			echo "FAIL: $from/ includes $h of $*:"
			echo "$hits"
			fail=1
		fi
	done
}

check lib daemon client proto
check daemon client
check client daemon

# Inside daemon/, the layers of the loop (daemon/loop.h): the transport
# and the batch call nothing above them. conn reaches the request layer
# and the modules that bind things to a connection only through the
# conn_ops it is given; batch only returns what its commit did; sched
# delivers through deliver.h, never to a connection itself. A module
# named here may not include the headers listed after it.
forbid() { # file header...
	f=$1
	shift
	for h in "$@"; do
		hits=$(grep -n "^#[[:space:]]*include[[:space:]]*\"$h\"" "daemon/$f")
		if [ -n "$hits" ]; then
			echo "FAIL: daemon/$f includes $h (an upward arrow):"
			echo "$hits"
			fail=1
		fi
	done
}
forbid conn.c sched.h channel.h dispatch.h wait.h hook.h loop.h
forbid conn.h sched.h channel.h dispatch.h
forbid batch.c sched.h channel.h conn.h dispatch.h hook.h wait.h loop.h
forbid batch.h sched.h channel.h conn.h
# The scheduler reaches its targets only through deliver.h; delivery
# knows no timer and reports back by return value.
forbid sched.c conn.h exec.h wait.h
forbid sched_fire.c conn.h exec.h wait.h
forbid sched.h conn.h deliver.h
forbid deliver.c sched.h
forbid deliver.h sched.h conn.h channel.h hook.h
# sched_int.h is the scheduler's own (sched.c, sched_fire.c,
# sched_clock.c, sched_load.c; the unit test reaches in from tests/).
hits=$(grep -ln '^#[[:space:]]*include[[:space:]]*"sched_int.h"' daemon/*.c \
	daemon/*.h | grep -vxE 'daemon/sched(_clock|_load|_fire)?\.c')
if [ -n "$hits" ]; then
	echo "FAIL: sched_int.h included outside the scheduler:"
	echo "$hits"
	fail=1
fi

# The scheduler and the store speak the daemon's enums (evd_types.h),
# never evd.proto's: none of their files may reach evd.pb-c.h, directly
# or through another header of daemon/, proto/ or lib/ (quoted includes,
# followed transitively). The protocol edge converts (evd_types_pb.h);
# the two blobs they keep opaque are unpacked by repeat.c (a stored
# schedule) and exec_blob.c (a stored Exec).
reaches_pb() { # file -> prints the include chain that reaches evd.pb-c.h
	seen=" "
	queue="$1"
	while [ -n "$queue" ]; do
		set -- $queue
		cur=$1
		shift
		queue="$*"
		for inc in $(sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$cur"); do
			inc=${inc##*/}
			if [ "$inc" = evd.pb-c.h ]; then
				echo "$cur"
				return 0
			fi
			case $seen in *" $inc "*) continue ;; esac
			seen="$seen$inc "
			for d in daemon proto lib; do
				if [ -f "$d/$inc" ]; then
					queue="$queue $d/$inc"
					break
				fi
			done
		done
	done
	return 1
}
for f in daemon/sched*.c daemon/sched*.h daemon/timerq.c daemon/timerq.h \
	daemon/repeat.h daemon/clock.c daemon/clock.h daemon/evd_types.h \
	daemon/deliver.h daemon/exec_blob.h \
	daemon/store*.h daemon/store.c daemon/store_memory.c \
	daemon/store_sqlite.c; do
	[ -f "$f" ] || continue
	if via=$(reaches_pb "$f"); then
		echo "FAIL: $f reaches evd.pb-c.h (through $via): the scheduler"
		echo "      and the store use evd_types.h; convert at the edge"
		fail=1
	fi
done

# CMake: each folder's targets list only their own sources.
for cm in CMakeLists.txt lib/CMakeLists.txt client/CMakeLists.txt \
	client/evctl/CMakeLists.txt; do
	case $cm in
	CMakeLists.txt) bad='client/[A-Za-z0-9_]*\.c|lib/[A-Za-z0-9_]*\.c' ;;
	lib/*) bad='daemon/|client/|\.\./' ;;
	client/*) bad='daemon/|lib/|\.\./[A-Za-z]*/[A-Za-z0-9_]*\.c' ;;
	esac
	hits=$(grep -nE "$bad" "$cm" | grep -v '^[0-9]*:[[:space:]]*#')
	if [ -n "$hits" ]; then
		echo "FAIL: $cm compiles another folder's sources:"
		echo "$hits"
		fail=1
	fi
done

[ "$fail" -eq 0 ] && echo "include arrows: ok"
exit "$fail"
