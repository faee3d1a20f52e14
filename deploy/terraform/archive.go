package terraform

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Archive limits. The service repository's sources are a few megabytes; the caps stop a
// hostile or broken tarball from filling the disk.
const (
	// DefaultMaxArchiveBytes caps the bytes an archive may unpack to (200 MiB).
	DefaultMaxArchiveBytes = 200 << 20
	// DefaultMaxArchiveFiles caps its entries.
	DefaultMaxArchiveFiles = 20000
)

// limits cap an unpacked archive.
type limits struct {
	maxBytes int64
	maxFiles int
}

// errUnsafe marks an archive refused for its contents rather than for an I/O error.
var errUnsafe = errors.New("unsafe archive")

// workingData names directories of Terraform's own working data that a commit may
// carry (by mistake or on purpose): .terraform (installed providers and modules) and
// terraform.d (the implicit local provider mirror). They are never unpacked: providers
// come only from where medic's CLI configuration says.
var workingData = map[string]bool{".terraform": true, "terraform.d": true}

// unpack extracts a gzip'd tar with one top directory (GitHub's "{owner}-{repo}-{sha7}/")
// into dest, which it creates with mode 0700, dropping the top directory. It refuses
// absolute names, "..", entries outside the top directory, links that leave dest or
// point through other links, entries beneath a symlink, devices and FIFOs, and archives
// over the limits. It leaves out Terraform working data (workingData) and returns the
// top-most paths it left out.
func unpack(r io.Reader, dest string, lim limits) (skipped []string, err error) {
	if err := os.Mkdir(dest, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dest, err)
	}
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("reading the archive: %w", err)
	}
	defer gz.Close()
	// Bound the decompressed stream too: skipped entries and padding count here.
	tr := tar.NewReader(&boundedReader{r: gz, left: 2*lim.maxBytes + 1<<20})
	u := &unpacker{dest: dest, lim: lim, symlinks: map[string]string{}, files: map[string]bool{}, seen: map[string]bool{}}
	top := ""
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the archive: %w", err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue // git archive's pax header holding the commit SHA
		}
		if u.entries++; u.entries > lim.maxFiles {
			return nil, fmt.Errorf("%w: more than %d entries", errUnsafe, lim.maxFiles)
		}
		name, err := entryName(hdr.Name)
		if err != nil {
			return nil, err
		}
		first, rest, _ := strings.Cut(name, "/")
		switch {
		case top == "":
			top = first
		case first != top:
			return nil, fmt.Errorf("%w: %q is outside the top directory %q", errUnsafe, hdr.Name, top)
		}
		if rest == "" {
			if hdr.Typeflag != tar.TypeDir {
				return nil, fmt.Errorf("%w: %q is not a directory", errUnsafe, hdr.Name)
			}
			continue
		}
		if at := workingDataAt(rest); at != "" {
			if !slices.Contains(skipped, at) {
				skipped = append(skipped, at)
			}
			continue
		}
		if err := u.entry(hdr, rest, tr, top); err != nil {
			return nil, err
		}
	}
	if top == "" {
		return nil, fmt.Errorf("%w: the archive is empty", errUnsafe)
	}
	return skipped, u.checkLinks()
}

// workingDataAt returns the part of rel up to its first working-data directory, or "".
func workingDataAt(rel string) string {
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		if workingData[p] {
			return strings.Join(parts[:i+1], "/")
		}
	}
	return ""
}

// entryName cleans an entry's name, refusing absolute names and "..".
func entryName(raw string) (string, error) {
	n := strings.TrimSuffix(raw, "/")
	switch {
	case n == "" || strings.HasPrefix(n, "/") || strings.ContainsRune(n, 0):
		return "", fmt.Errorf("%w: entry %q has an absolute or empty name", errUnsafe, raw)
	case strings.Contains(n, `\`):
		return "", fmt.Errorf("%w: entry %q has a backslash", errUnsafe, raw)
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: entry %q has a .. component", errUnsafe, raw)
		}
	}
	n = path.Clean(n)
	if n == "." {
		return "", fmt.Errorf("%w: entry %q names the archive root", errUnsafe, raw)
	}
	return n, nil
}

// unpacker tracks what has been extracted.
type unpacker struct {
	dest    string
	lim     limits
	entries int
	written int64
	// symlinks are the extracted symlinks (relative path → target); files the regular
	// files (hard links may point only at those).
	symlinks map[string]string
	files    map[string]bool
	// seen are all extracted names: an entry may not replace an earlier one (a
	// symlink followed by a file of the same name is a classic escape).
	seen map[string]bool
}

// entry extracts one entry at rel (slash-separated, below the top directory).
func (u *unpacker) entry(hdr *tar.Header, rel string, r io.Reader, top string) error {
	if err := u.belowSymlink(rel); err != nil {
		return err
	}
	if u.seen[rel] {
		return fmt.Errorf("%w: %q appears twice", errUnsafe, hdr.Name)
	}
	u.seen[rel] = true
	target := filepath.Join(u.dest, filepath.FromSlash(rel))
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.MkdirAll(target, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", rel, err)
		}
	case tar.TypeReg:
		return u.file(hdr, rel, target, r)
	case tar.TypeSymlink:
		return u.symlink(hdr, rel, target)
	case tar.TypeLink:
		return u.hardLink(hdr, rel, target, top)
	default:
		return fmt.Errorf("%w: %q is a %s", errUnsafe, hdr.Name, typeName(hdr.Typeflag))
	}
	return nil
}

// belowSymlink refuses an entry whose parent directories include an extracted symlink:
// writing through it could land anywhere.
func (u *unpacker) belowSymlink(rel string) error {
	for dir := path.Dir(rel); dir != "."; dir = path.Dir(dir) {
		if _, ok := u.symlinks[dir]; ok {
			return fmt.Errorf("%w: %q is beneath the symlink %q", errUnsafe, rel, dir)
		}
	}
	return nil
}

func (u *unpacker) file(hdr *tar.Header, rel, target string, r io.Reader) error {
	if hdr.Size < 0 || hdr.Size > u.lim.maxBytes-u.written {
		return fmt.Errorf("%w: the archive unpacks to more than %d bytes", errUnsafe, u.lim.maxBytes)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("creating the directory of %s: %w", rel, err)
	}
	mode := os.FileMode(0o644)
	if hdr.Mode&0o111 != 0 {
		mode = 0o755
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("creating %s: %w", rel, err)
	}
	n, err := io.CopyN(f, r, hdr.Size)
	u.written += n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", rel, err)
	}
	u.files[rel] = true
	return nil
}

func (u *unpacker) symlink(hdr *tar.Header, rel, target string) error {
	link := hdr.Linkname
	if link == "" || strings.HasPrefix(link, "/") || filepath.IsAbs(link) || strings.ContainsRune(link, 0) {
		return fmt.Errorf("%w: symlink %q points to the absolute path %q", errUnsafe, hdr.Name, link)
	}
	// Resolved lexically from the link's directory, the target must stay inside.
	if resolved := path.Join(path.Dir(rel), link); resolved == ".." || strings.HasPrefix(resolved, "../") {
		return fmt.Errorf("%w: symlink %q points outside the archive (%q)", errUnsafe, hdr.Name, link)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("creating the directory of %s: %w", rel, err)
	}
	if err := os.Symlink(link, target); err != nil {
		return fmt.Errorf("creating the symlink %s: %w", rel, err)
	}
	u.symlinks[rel] = link
	return nil
}

func (u *unpacker) hardLink(hdr *tar.Header, rel, target, top string) error {
	// Hard link names are archive paths, with the top directory.
	name, err := entryName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("%w: hard link %q: %w", errUnsafe, hdr.Name, err)
	}
	src, ok := strings.CutPrefix(name, top+"/")
	if !ok || !u.files[src] {
		return fmt.Errorf("%w: hard link %q points to %q, not a file of the archive", errUnsafe, hdr.Name, hdr.Linkname)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("creating the directory of %s: %w", rel, err)
	}
	if err := os.Link(filepath.Join(u.dest, filepath.FromSlash(src)), target); err != nil {
		return fmt.Errorf("creating the hard link %s: %w", rel, err)
	}
	return nil
}

// checkLinks resolves every extracted symlink: chains of links that each stay inside
// lexically can still leave dest (a link to "." followed by ".."), so the real
// resolution must stay inside too. Dangling links are refused.
func (u *unpacker) checkLinks() error {
	root, err := filepath.EvalSymlinks(u.dest)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", u.dest, err)
	}
	for rel := range u.symlinks {
		got, err := filepath.EvalSymlinks(filepath.Join(u.dest, filepath.FromSlash(rel)))
		if err != nil {
			return fmt.Errorf("%w: symlink %q does not resolve inside the archive", errUnsafe, rel)
		}
		if got != root && !strings.HasPrefix(got, root+string(filepath.Separator)) {
			return fmt.Errorf("%w: symlink %q resolves outside the archive", errUnsafe, rel)
		}
	}
	return nil
}

func typeName(t byte) string {
	switch t {
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "FIFO"
	default:
		return fmt.Sprintf("entry of type %q", t)
	}
}

// boundedReader fails once more than left bytes were read.
type boundedReader struct {
	r    io.Reader
	left int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, fmt.Errorf("%w: the archive is too large", errUnsafe)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}
