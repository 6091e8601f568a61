# The state of this VM's free memory before a write phase (bench/vs-glusterfs.sh, bench/replicate.sh): sourced, never run.
# These VMs hand free memory back to the host (virtio-balloon free page reporting: /sys/module/page_reporting, about
# 2 s after it is freed), and whoever first writes into such a page again pays the host's fault inside the copy into
# the page cache — charged as system time to the writer (a brick), for every filesystem alike. See
# docs/fuse-benchmark.md "Session 11: where a seqwrite's brick CPU goes".
#
#   reported_kib        free memory handed back to the host so far, KiB (0 where the kernel does not report)
#   pages_prepare MODE  "" (nothing), settled (wait until the host has taken back what was freed: the reported count
#                       still for 2 s, at most 20 s) or fresh (drop the clean page cache: the first pages written come
#                       from memory just freed), or filled (write a scratch file of FILL_MB, default 512, in DIR — the
#                       second argument, default /var/tmp — and remove it: that much memory just freed, whatever the
#                       configuration before left in the page cache; `fresh` frees only what the previous writer left
#                       cached, so it favours a configuration that leaves much: see docs/replicate.md, "Session 14")
#   pages_check MODE    exits with a message unless MODE is one of those
#   read_pages_prepare MODE   before a cold read: "" (sync, drop every cache), settled (sync, wait until the host has
#                       taken back what was freed before, then drop: the read fills the pages the drop has just freed,
#                       with no earlier free being reported beside it) or taken (sync, drop, then wait until the host
#                       has taken back what the drop freed: every page the read fills must be faulted in by the host)
#   read_pages_check MODE     exits with a message unless MODE is one of those

reported_kib() { cat /sys/module/page_reporting/parameters/reported_kib 2>/dev/null || echo 0; }

settle_pages() {
  local last now still=0
  last="$(reported_kib)"
  for _ in $(seq 1 40); do
    sleep 0.5; now="$(reported_kib)"
    if [ "$now" = "$last" ]; then still=$((still + 1)); [ "$still" -ge 4 ] && return 0; else still=0; last="$now"; fi
  done
}

fill_pages() {
  local f="${1:-/var/tmp}/pages-fill.$$"
  dd if=/dev/zero of="$f" bs=1M count="${FILL_MB:-512}" status=none
  rm -f "$f"
}

pages_prepare() {
  case "$1" in settled) settle_pages ;; fresh) echo 1 > /proc/sys/vm/drop_caches ;; filled) fill_pages "${2:-}" ;; esac
}

pages_check() {
  case "$1" in ""|settled|fresh|filled) ;; *) echo "PAGES is settled, fresh, filled or unset, not '$1'" >&2; exit 1 ;; esac
}

read_pages_prepare() {
  sync
  [ "$1" = settled ] && settle_pages
  echo 3 > /proc/sys/vm/drop_caches
  [ "$1" = taken ] && settle_pages
  true
}

read_pages_check() {
  case "$1" in ""|settled|taken) ;; *) echo "READ_PAGES is settled, taken or unset, not '$1'" >&2; exit 1 ;; esac
}
