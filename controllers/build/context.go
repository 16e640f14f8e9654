package build

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// DefaultContextMaxMB caps a build context unless build_context_max_mb says
// otherwise.
const DefaultContextMaxMB = 512

// tarContext streams dir (without .git) as a build context; a generated
// Dockerfile is added under the name dockerfile. The files are measured
// first, so a context over maxBytes is refused with a clear error before
// the engine sees any of it; the tar itself is written through a pipe, so
// paasd never holds a tenant's repository in memory.
func tarContext(dir, dockerfile, generated string, maxBytes int64) (io.ReadCloser, error) {
	var size int64
	err := walkContext(dir, func(_ string, _ string, info fs.FileInfo) error {
		if info.Mode().IsRegular() {
			size += info.Size()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("measure context: %w", err)
	}
	size += int64(len(generated))
	if size > maxBytes {
		return nil, fmt.Errorf("the build context is %d MiB, more than the %d MiB allowed (%s)", size>>20, maxBytes>>20, SettingContextMaxMB)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeContext(pw, dir, dockerfile, generated)) }()
	return pr, nil
}

// walkContext calls fn for each file and directory under dir but .git,
// with its path relative to dir.
func walkContext(dir string, fn func(path, rel string, info fs.FileInfo) error) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return fn(p, rel, info)
	})
}

func writeContext(w io.Writer, dir, dockerfile, generated string) error {
	tw := tar.NewWriter(w)
	err := walkContext(dir, func(p, rel string, info fs.FileInfo) error {
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			var err error
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		h.ModTime = time.Unix(0, 0) // stable context: git has no mtimes
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		// No more than its header says, even if the file grows meanwhile.
		_, err = io.Copy(tw, io.LimitReader(f, h.Size))
		return err
	})
	if err != nil {
		return fmt.Errorf("pack context: %w", err)
	}
	if generated != "" {
		if err := tw.WriteHeader(&tar.Header{Name: dockerfile, Mode: 0o644, Size: int64(len(generated))}); err != nil {
			return err
		}
		if _, err := tw.Write([]byte(generated)); err != nil {
			return err
		}
	}
	return tw.Close()
}
