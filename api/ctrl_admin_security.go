package api

import (
	"context"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/security"
	"github.com/korumdb/korum/validation"
)

// adminSecurityController serves the admin controller's security actions;
// the router merges them with the rest of the admin controller.
type adminSecurityController struct {
	sec    Security
	clock  Clock
	routes roleRoutes
	specs  Specifications
}

func (c *adminSecurityController) actions() map[string]Handler {
	return map[string]Handler{
		"resetSecurity":   c.resetSecurity,
		"resetKuzzleData": c.resetKuzzleData,
		"loadSecurities":  c.loadSecurities,
	}
}

// resetSecurity deletes every user, profile and role and puts back a
// fresh install's: anonymous may do everything again, as Kuzzle's.
func (c *adminSecurityController) resetSecurity(ctx context.Context, r *Request) (any, error) {
	if _, err := propose(ctx, c.sec, c.clock, r, &security.Command{Op: security.OpReset}); err != nil {
		return nil, err
	}
	return map[string]any{"acknowledge": true}, nil
}

// resetKuzzleData is Kuzzle's: resetSecurity, then every validation
// specification deleted; documents are untouched. Kuzzle answers before
// the work is done; Korum answers once it is (each step through the log).
func (c *adminSecurityController) resetKuzzleData(ctx context.Context, r *Request) (any, error) {
	if _, err := c.resetSecurity(ctx, r); err != nil {
		return nil, err
	}
	for _, st := range c.specs.AllSpecs() {
		if _, err := c.specs.ProposeSpecs(ctx, &validation.Command{Index: st.Index, Collection: st.Collection}); err != nil {
			return nil, err
		}
	}
	return map[string]any{"acknowledge": true}, nil
}

// loadSecurities loads roles, profiles and users from one body
// ({roles: {id: role}, profiles: {id: profile}, users: {kuid: {content,
// credentials}}}), all or nothing.
func (c *adminSecurityController) loadSecurities(ctx context.Context, r *Request) (any, error) {
	body, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	onExisting, err := r.OptString("onExistingUsers")
	if err != nil {
		return nil, err
	}
	force, err := r.Bool("force")
	if err != nil {
		return nil, err
	}
	switch onExisting {
	case "":
		onExisting = "fail"
	case "fail", "skip", "overwrite":
	default:
		return nil, kerror.New("api.assert.invalid_argument", "onExistingUsers", `"fail", "skip" or "overwrite"`)
	}
	cmd := &security.Command{Op: security.OpLoad, OnExisting: onExisting,
		Roles: map[string]*security.Role{}, Profiles: map[string]*security.Profile{}, Users: map[string]*security.User{}}
	section := func(name string) (map[string]any, error) {
		v, ok := body[name]
		if !ok || v == nil {
			return nil, nil
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", "body."+name, "object")
		}
		return m, nil
	}
	obj := func(name, id string, v any) (map[string]any, error) {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", "body."+name+"."+id, "object")
		}
		return m, checkID(id)
	}
	roles, err := section("roles")
	if err != nil {
		return nil, err
	}
	for id, v := range roles {
		m, err := obj("roles", id, v)
		if err != nil {
			return nil, err
		}
		if cmd.Roles[id], err = security.ParseRole(id, m); err != nil {
			return nil, err
		}
		if err := checkRole(c.routes, id, cmd.Roles[id], force); err != nil {
			return nil, err
		}
	}
	profiles, err := section("profiles")
	if err != nil {
		return nil, err
	}
	for id, v := range profiles {
		m, err := obj("profiles", id, v)
		if err != nil {
			return nil, err
		}
		if cmd.Profiles[id], err = security.ParseProfile(id, m); err != nil {
			return nil, err
		}
	}
	users, err := section("users")
	if err != nil {
		return nil, err
	}
	if max := 1000; len(users) > max {
		return nil, kerror.New("services.storage.write_limit_exceeded")
	}
	for id, v := range users {
		m, err := obj("users", id, v)
		if err != nil {
			return nil, err
		}
		if cmd.Users[id], err = parseUser(c.sec.SecurityState(), id, m, true); err != nil {
			return nil, err
		}
	}
	if _, err := propose(ctx, c.sec, c.clock, r, cmd); err != nil {
		return nil, err
	}
	return map[string]any{"acknowledge": true}, nil
}
