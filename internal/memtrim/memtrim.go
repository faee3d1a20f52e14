// Package memtrim gives back to the OS the pages of medic's own executable that only
// its start touched.
//
// Starting touches code and read-only data all over the executable (every package's
// initialisation, the config, the store, the clients), and the kernel maps pages around
// each one it faults in, so an idle medic keeps most of its 45 MB executable resident
// though it runs little of it. Those pages are clean copies of the file: dropping them
// from the process loses nothing, they stay in the page cache, and a page needed again
// is mapped back on first touch, without reading the disk.
package memtrim

import (
	"fmt"
	"strconv"
	"strings"
)

// Trimmed says what Executable gave back.
type Trimmed struct {
	// Mappings is how many of the executable's mappings were dropped.
	Mappings int
	// Bytes is how much of them was resident before.
	Bytes int64
	// Skipped is how many of its mappings were kept because they hold data of the
	// process's own (written or relocated pages).
	Skipped int
}

// trim calls drop on each mapping of smaps that is path's, read-only, private and
// without an anonymous page, and says what it dropped.
func trim(smaps []byte, path string, drop func(start, end uintptr) error) (Trimmed, error) {
	var t Trimmed
	for _, m := range parseSmaps(smaps) {
		if m.path != path || !m.readOnlyPrivate() {
			continue
		}
		if m.anonKB != 0 || m.swapKB != 0 {
			// Written or relocated pages, resident or swapped out: dropping them would
			// bring the file's back in their place.
			t.Skipped++
			continue
		}
		if err := drop(m.start, m.end); err != nil {
			return t, fmt.Errorf("memtrim: dropping %x-%x of %s: %w", m.start, m.end, path, err)
		}
		t.Mappings++
		t.Bytes += m.rssKB << 10
	}
	return t, nil
}

// mapping is one entry of /proc/PID/smaps.
type mapping struct {
	start, end uintptr
	perms      string
	path       string
	rssKB      int64
	anonKB     int64
	swapKB     int64
}

// readOnlyPrivate reports whether the mapping can be neither written nor shared: its
// pages are the file's, as long as it holds no anonymous page.
func (m mapping) readOnlyPrivate() bool {
	return len(m.perms) == 4 && m.perms[1] == '-' && m.perms[3] == 'p'
}

// parseSmaps reads the mappings of an smaps file; a line it does not understand is
// skipped (a mapping whose header it cannot read is left out, so never trimmed).
func parseSmaps(b []byte) []mapping {
	var out []mapping
	var cur *mapping
	for _, line := range strings.Split(string(b), "\n") {
		if m, ok := parseHeader(line); ok {
			out = append(out, m)
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil {
			continue
		}
		if kb, ok := field(line, "Rss:"); ok {
			cur.rssKB = kb
		} else if kb, ok := field(line, "Anonymous:"); ok {
			cur.anonKB = kb
		} else if kb, ok := field(line, "Swap:"); ok {
			cur.swapKB = kb
		}
	}
	return out
}

// parseHeader reads "start-end perms offset dev inode path" (path may hold spaces).
func parseHeader(line string) (mapping, bool) {
	f := strings.Fields(line)
	if len(f) < 5 || strings.HasSuffix(f[0], ":") {
		return mapping{}, false
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok || len(f[1]) != 4 {
		return mapping{}, false
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || end <= start {
		return mapping{}, false
	}
	return mapping{start: uintptr(start), end: uintptr(end), perms: f[1], path: afterFields(line, 5)}, true
}

// afterFields is what follows the first n space-separated fields of line, trimmed:
// a mapping's path, spaces and all.
func afterFields(line string, n int) string {
	rest := line
	for range n {
		rest = strings.TrimLeft(rest, " \t")
		i := strings.IndexAny(rest, " \t")
		if i < 0 {
			return ""
		}
		rest = rest[i:]
	}
	return strings.TrimSpace(rest)
}

// field reads "Name:   123 kB".
func field(line, name string) (int64, bool) {
	rest, ok := strings.CutPrefix(line, name)
	if !ok {
		return 0, false
	}
	f := strings.Fields(rest)
	if len(f) != 2 || f[1] != "kB" {
		return 0, false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	return n, err == nil
}

// isPIE tells whether an ELF header (its first 18 bytes) is a shared object's: e_type,
// at offset 16, is ET_DYN (3), little- or big-endian as EI_DATA says.
func isPIE(h []byte) bool {
	if len(h) < 18 || string(h[:4]) != "\x7fELF" {
		return false
	}
	typ := uint16(h[16]) | uint16(h[17])<<8
	if h[5] == 2 { // ELFDATA2MSB
		typ = uint16(h[16])<<8 | uint16(h[17])
	}
	return typ == 3
}
