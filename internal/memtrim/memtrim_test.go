package memtrim

import (
	"errors"
	"reflect"
	"testing"
)

const sample = `00400000-01302000 r-xp 00000000 fd:00 1234                               /opt/medic/bin/medic
Size:              15368 kB
Rss:               12544 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
01302000-022b6000 r--p 00f02000 fd:00 1234                               /opt/medic/bin/medic
Size:              16072 kB
Rss:               13260 kB
Anonymous:             0 kB
022b6000-0236f000 rw-p 01eb6000 fd:00 1234                               /opt/medic/bin/medic
Rss:                 676 kB
Anonymous:           420 kB
02400000-02410000 r--p 01f00000 fd:00 1234                               /opt/medic/bin/medic
Rss:                  64 kB
Anonymous:            16 kB
0236f000-043d1000 rw-p 00000000 00:00 0 
Rss:                 300 kB
Anonymous:           300 kB
7f0000000000-7f0000010000 r-xp 00000000 fd:00 99                         /opt/medic/bin/medic other
Rss:                  64 kB
Anonymous:             0 kB
7f0000010000-7f0000020000 r--p 00000000 fd:00 98                         /opt/medic/bin/medic (deleted)
Rss:                  64 kB
Anonymous:             0 kB
7f0000020000-7f0000030000 r--p 00000000 fd:00 1234                       /opt/medic/bin/medic
Rss:                   0 kB
Anonymous:             0 kB
Swap:                 12 kB
7ffe61b8a000-7ffe61bab000 rw-p 00000000 00:00 0                          [stack]
Rss:                  16 kB
`

type span struct{ start, end uintptr }

func TestTrimDropsOnlyTheExecutablesCleanReadOnlyMappings(t *testing.T) {
	var dropped []span
	got, err := trim([]byte(sample), "/opt/medic/bin/medic", func(s, e uintptr) error {
		dropped = append(dropped, span{s, e})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The text and the read-only data; not the data segment (writable), not the
	// relocated read-only part (anonymous pages), not the anonymous heap, not another
	// file whose name starts with the executable's.
	want := []span{{0x400000, 0x1302000}, {0x1302000, 0x22b6000}}
	if !reflect.DeepEqual(dropped, want) {
		t.Errorf("dropped %x, want %x", dropped, want)
	}
	if got != (Trimmed{Mappings: 2, Bytes: (12544 + 13260) << 10, Skipped: 2}) {
		t.Errorf("trim = %+v", got)
	}
}

func TestTrimStopsAtAFailedDrop(t *testing.T) {
	calls := 0
	_, err := trim([]byte(sample), "/opt/medic/bin/medic", func(uintptr, uintptr) error {
		calls++
		return errors.New("EINVAL")
	})
	if err == nil || calls != 1 {
		t.Fatalf("err = %v after %d calls; want the first failure", err, calls)
	}
}

func TestParseSmapsPaths(t *testing.T) {
	ms := parseSmaps([]byte(sample))
	if len(ms) != 9 {
		t.Fatalf("parsed %d mappings, want 9: %+v", len(ms), ms)
	}
	for i, want := range []string{"/opt/medic/bin/medic", "", "/opt/medic/bin/medic other", "/opt/medic/bin/medic (deleted)", "[stack]"} {
		j := []int{0, 4, 5, 6, 8}[i]
		if ms[j].path != want {
			t.Errorf("mapping %d path = %q, want %q", j, ms[j].path, want)
		}
	}
	if ms[2].anonKB != 420 || ms[2].rssKB != 676 {
		t.Errorf("mapping 2 = %+v", ms[2])
	}
}

func TestParseHeaderRefusesWhatItCannotRead(t *testing.T) {
	for _, line := range []string{"", "Rss: 4 kB", "zz-01 r-xp 0 0 0 /x", "0200-0100 r-xp 0 0 0 /x", "0100-0200 rx 0 0 0 /x", "VmFlags: rd ex mr mw me"} {
		if m, ok := parseHeader(line); ok {
			t.Errorf("parseHeader(%q) = %+v, true", line, m)
		}
	}
}

func TestIsPIE(t *testing.T) {
	header := func(class, data byte, typ uint16) []byte {
		h := []byte("\x7fELF" + string([]byte{class, data, 1, 0}) + "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
		if data == 2 {
			h[16], h[17] = byte(typ>>8), byte(typ)
		} else {
			h[16], h[17] = byte(typ), byte(typ>>8)
		}
		return h
	}
	for _, tt := range []struct {
		name string
		h    []byte
		want bool
	}{
		{"static executable", header(2, 1, 2), false},
		{"position-independent", header(2, 1, 3), true},
		{"big-endian PIE", header(2, 2, 3), true},
		{"big-endian executable", header(2, 2, 2), false},
		{"not ELF", []byte("#!/bin/sh\nexit 0\n\n\n"), false},
		{"short", []byte("\x7fELF"), false},
	} {
		if got := isPIE(tt.h); got != tt.want {
			t.Errorf("%s: isPIE = %v, want %v", tt.name, got, tt.want)
		}
	}
}
