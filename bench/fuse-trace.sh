# FUSE requests per operation, counted by the kernel (the fuse:fuse_request_send and fuse_request_end trace events,
# in a tracing instance of this process's own so that nobody else's tracing is touched): sourced, never run.
#
#   . "$here/bench/fuse-trace.sh"
#   fuse_trace_begin MOUNTPOINT     # count requests sent to the FUSE connection of MOUNTPOINT from now on
#   ... the phase ...
#   fuse_trace_end N                # prints "TOTAL fuse/op: OP COUNT/N (MEAN µs) ..." (LOOKUP, GETATTR, CREATE, ...)
#
# The mean is from the request's send to its end as the kernel sees them (queued, read by the daemon, answered): the
# time a caller waits for it, or, for requests nobody waits for (RELEASE, FORGET), the time until it is done.
# Needs root and tracefs (/sys/kernel/tracing). Works for any FUSE filesystem (Graft's mount daemon, GlusterFS's client).
# The connection is the mount's st_dev (FUSE mounts have major 0). fuse_trace_end says so when events were lost.

fuse_trace_begin() {
  ft_dir="/sys/kernel/tracing/instances/graft-fuse-$$"
  [ -d /sys/kernel/tracing/events/fuse ] || { echo "fuse-trace: no fuse trace events in /sys/kernel/tracing" >&2; return 1; }
  [ -d "$ft_dir" ] || mkdir "$ft_dir"
  echo 32768 > "$ft_dir/buffer_size_kb"
  local ev
  for ev in fuse_request_send fuse_request_end; do
    echo "connection == $(stat -c %d "$1")" > "$ft_dir/events/fuse/$ev/filter"
  done
  echo > "$ft_dir/trace"
  for ev in fuse_request_send fuse_request_end; do echo 1 > "$ft_dir/events/fuse/$ev/enable"; done
}

fuse_trace_end() {
  local n="$1" lost ev
  for ev in fuse_request_send fuse_request_end; do echo 0 > "$ft_dir/events/fuse/$ev/enable"; done
  lost="$(cat "$ft_dir"/per_cpu/cpu*/stats | awk '/^overrun:/ { s += $2 } END { print s + 0 }')"
  # "... 68609.308170: fuse_request_send: connection 40 req 90 opcode 1 (FUSE_LOOKUP) len 42"
  awk -v n="$n" -v lost="$lost" '
    / fuse_request_send: / {
      for (i = 1; i <= NF; i++) if ($i == "fuse_request_send:") { t = $(i - 1); sub(":", "", t) }
      for (i = 1; i <= NF; i++) if ($i == "req") id = $(i + 1); else if ($i == "opcode") op = $(i + 2)
      gsub(/[()]|FUSE_/, "", op); sent[id] = t; opof[id] = op; count[op]++; total++; next }
    / fuse_request_end: / {
      for (i = 1; i <= NF; i++) if ($i == "fuse_request_end:") { t = $(i - 1); sub(":", "", t) }
      for (i = 1; i <= NF; i++) if ($i == "req") id = $(i + 1)
      if (id in sent) { op = opof[id]; us[op] += (t - sent[id]) * 1e6; ended[op]++; delete sent[id] } }
    END {
      printf "%.2f fuse/op:", total / n
      while (1) { best = ""; for (op in count) if (best == "" || count[op] > count[best]) best = op; if (best == "") break
        printf " %s %.2f", best, count[best] / n; if (ended[best] > 0) printf " (%.0f µs)", us[best] / ended[best]; delete count[best] }
      if (lost > 0) printf " (%d events lost)", lost
      printf "\n" }' "$ft_dir/trace"
  rmdir "$ft_dir" 2>/dev/null || true
}
