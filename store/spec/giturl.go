package spec

import (
	"errors"
	"net/url"
)

// SettingAllowFileGitURLs names the setting that lets app sources be
// file:// URLs. They read the manager's own disk, so only an installation
// whose tenants are trusted (or a test) turns it on.
const SettingAllowFileGitURLs = "build_allow_file_urls"

// CheckGitURL says why raw cannot be an app's git source, or nil. The API
// checks it when a source is set and the build runner again before each
// clone, so a source stored before a policy change is not cloned either.
func CheckGitURL(raw string, allowFile bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("must be an https://, http://, ssh:// or git:// URL")
	}
	switch u.Scheme {
	case "https", "http", "ssh", "git":
	case "file":
		if !allowFile {
			return errors.New("file:// URLs read the manager's own disk and are off (an administrator can allow them with the " + SettingAllowFileGitURLs + " setting)")
		}
		return nil
	default:
		return errors.New("must be an https://, http://, ssh:// or git:// URL")
	}
	if u.Host == "" {
		return errors.New("must name a host")
	}
	if _, ok := u.User.Password(); ok {
		// It would be stored, answered and logged as part of the URL.
		return errors.New("must not hold a password or token: store it as the organization's git credential for the host")
	}
	return nil
}
