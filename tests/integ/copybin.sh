# copybin.sh: copy_binaries_for_others, for shell tests that run evd and
# evctl as other users. The build tree may sit where only root may look
# (CI's clone in a 0700 temporary directory), so those users run copies:
# $EVD, $EVCTL (with evctl-ui) and the libraries of the build tree they load go to
# $dir/bin (0755; $dir must be 0755 too), EVD and EVCTL then name the
# copies and LD_LIBRARY_PATH finds the libraries. Returns non-zero if a
# copy failed.
copy_binaries_for_others() {
	local lib
	mkdir -m 0755 "$dir/bin" || return 1
	cp "$EVD" "$dir/bin/evd" && cp "$EVCTL" "$dir/bin/evctl" || return 1
	# evctl ui runs the evctl-ui next to evctl (evctl_ui_exec.c).
	if [ -e "$(dirname "$EVCTL")/evctl-ui" ]; then
		cp "$(dirname "$EVCTL")/evctl-ui" "$dir/bin/" || return 1
	fi
	for lib in $(ldd "$EVD" "$dir/bin"/evctl* |
		awk '$3 ~ /^\// && $3 !~ /^\/(usr\/)?lib/ { print $3 }' | sort -u); do
		cp "$lib" "$dir/bin/" || return 1
	done
	chmod 0755 "$dir/bin"/* || return 1
	EVD=$dir/bin/evd
	EVCTL=$dir/bin/evctl
	export LD_LIBRARY_PATH=$dir/bin
}
