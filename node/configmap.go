package node

import (
	"net/url"
	"strings"
	"time"
)

// redacted replaces a secret's value wherever the configuration is shown.
const redacted = "[redacted]"

// Public is the configuration as server:getConfig and admin:dump show it:
// the config file's keys, nested by section ({"limits": {"documentsFetchCount":
// 10000}, ...}), durations in milliseconds as in Kuzzle, and the secrets
// (the cluster secret, a password in the Redis URL) redacted.
func (c Config) Public() map[string]any {
	out := map[string]any{}
	for _, o := range options(&c) {
		section, key, _ := strings.Cut(o.key, ".")
		m, _ := out[section].(map[string]any)
		if m == nil {
			m = map[string]any{}
			out[section] = m
		}
		var v any
		switch p := o.ptr.(type) {
		case *string:
			v = *p
		case *int:
			v = *p
		case *int64:
			v = *p
		case *bool:
			v = *p
		case *[]string:
			v = append([]string{}, *p...)
		case *time.Duration:
			v = p.Milliseconds()
		}
		switch o.key {
		case "cluster.secret":
			if v != "" {
				v = redacted
			}
		case "cluster.redis":
			v = redactURL(v.(string))
		}
		m[key] = v
	}
	return out
}

// redactURL hides the password of a URL (redis://user:password@host).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		if strings.Contains(s, "@") {
			return redacted
		}
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	return u.String()
}
