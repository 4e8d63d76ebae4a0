// Package oidctest runs a real OpenID provider in the test process: the
// provider package of zitadel/oidc (pkg/op) with its example in-memory
// storage and login form, so tests drive the browser part of a login with a
// plain http.Client against the provider's genuine endpoints (discovery,
// authorize, login, token with PKCE, JWKS, user info).
package oidctest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"golang.org/x/text/language"
)

// Provider is a running OpenID provider with one confidential web client.
type Provider struct {
	Issuer       string
	ClientID     string
	ClientSecret string

	users *users
	srv   *http.Server
}

// User is a person who can log in at the provider.
type User struct {
	Username, Password string
	Email              string
	EmailVerified      bool
	Name               string
}

// Start runs a provider on a loopback port until the test ends. The client
// accepts the given redirect URIs.
func Start(t testing.TB, redirectURIs ...string) *Provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{Issuer: "http://" + ln.Addr().String(), ClientID: "botserver", ClientSecret: "client-secret-1",
		users: &users{byID: map[string]*storage.User{}}}
	clients := map[string]*storage.Client{p.ClientID: storage.WebClient(p.ClientID, p.ClientSecret, redirectURIs...)}
	st := storage.NewStorageWithClients(p.users, clients)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p.srv = &http.Server{Handler: exampleop.SetupServer(p.Issuer, st, log, false), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	t.Cleanup(p.Stop)
	return p
}

// AddUser registers a user; the username is also the subject prefix.
func (p *Provider) AddUser(u User) string {
	return p.users.add(u)
}

// Stop shuts the provider down (connections refused from then on).
func (p *Provider) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
}

// Login plays the browser: it opens startURL (the provider's authorization
// URL, or an app URL redirecting there) with c, fills the provider's login
// form and posts it. It returns the response to the post, after whatever
// redirects c follows (c.CheckRedirect decides where to stop, e.g. at the
// app's redirect URI).
func (p *Provider) Login(c *http.Client, startURL, username, password string) (*http.Response, error) {
	resp, err := c.Get(startURL)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/login/username" {
		return nil, fmt.Errorf("expected the provider's login form, got %d at %s: %s", resp.StatusCode, resp.Request.URL, body)
	}
	id := resp.Request.URL.Query().Get("authRequestID")
	if id == "" || !strings.Contains(string(body), `name="password"`) {
		return nil, errors.New("the login form has no auth request id")
	}
	return c.PostForm(p.Issuer+"/login/username", url.Values{"id": {id}, "username": {username}, "password": {password}})
}

// StopAtRedirect is a CheckRedirect that follows redirects while they stay
// on the provider and stops at the first one leaving it (the app's redirect
// URI), leaving its Location to the caller.
func (p *Provider) StopAtRedirect(req *http.Request, _ []*http.Request) error {
	if "http://"+req.URL.Host != p.Issuer {
		return http.ErrUseLastResponse
	}
	return nil
}

// users is the provider's user store.
type users struct {
	mu   sync.Mutex
	byID map[string]*storage.User
}

func (s *users) add(u User) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := fmt.Sprintf("sub-%d-%s", len(s.byID)+1, u.Username)
	first, last, _ := strings.Cut(u.Name, " ")
	s.byID[id] = &storage.User{ID: id, Username: u.Username, Password: u.Password, Email: u.Email,
		EmailVerified: u.EmailVerified, FirstName: first, LastName: last, PreferredLanguage: language.English}
	return id
}

func (s *users) GetUserByID(id string) *storage.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[id]
}

func (s *users) GetUserByUsername(name string) *storage.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.byID {
		if u.Username == name {
			return u
		}
	}
	return nil
}

func (s *users) ExampleClientID() string { return "service" }
