// Package config reads and writes paasctl's configuration file: which
// server to talk to, the login token and the current organization.
//
// The file is YAML at $XDG_CONFIG_HOME/paasctl/config.yaml (on Linux
// ~/.config/paasctl/config.yaml; os.UserConfigDir elsewhere), or wherever
// PAASCTL_CONFIG points. It holds a secret, so it is written with mode 0600
// in a 0700 directory, atomically (a temporary file renamed over it).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the file's content.
type Config struct {
	// Server is the paasd base URL, e.g. http://127.0.0.1:8080.
	Server string `yaml:"server,omitempty"`
	// Token is a login JWT or a personal API token (paas_...).
	Token string `yaml:"token,omitempty"`
	// TokenExpiresAt is when a login token stops working; nil for API
	// tokens without expiry or when unknown.
	TokenExpiresAt *time.Time `yaml:"token_expires_at,omitempty"`
	// Email is the logged-in user's, shown by whoami when offline.
	Email string `yaml:"email,omitempty"`
	// Organization is the current organization's slug; empty means the
	// user's only one.
	Organization string `yaml:"organization,omitempty"`
}

// Getenv reads an environment variable (os.Getenv in production).
type Getenv func(string) string

// Path returns where the configuration file lives.
func Path(getenv Getenv) (string, error) {
	if p := getenv("PAASCTL_CONFIG"); p != "" {
		return p, nil
	}
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			d, err := os.UserConfigDir()
			if err != nil {
				return "", fmt.Errorf("cannot find a configuration directory: set HOME, XDG_CONFIG_HOME or PAASCTL_CONFIG")
			}
			dir = d
		} else {
			dir = filepath.Join(home, ".config")
		}
	}
	return filepath.Join(dir, "paasctl", "config.yaml"), nil
}

// Load reads the file at path; a missing file is an empty configuration.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s is not a paasctl configuration (%s): fix or remove it", path, oneLine(err.Error()))
	}
	return &c, nil
}

// Save writes c to path with mode 0600, creating the directory (0700).
func Save(path string, c *Config) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	b = append([]byte("# paasctl configuration: written by `paasctl login`; it holds a secret token.\n"), b...)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.yaml")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func oneLine(s string) string {
	return string(bytes.Join(bytes.Fields([]byte(s)), []byte(" ")))
}
