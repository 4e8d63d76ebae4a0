// Package lifecycle starts a set of named units in dependency order and
// stops them in reverse, with the drain sequence every service shares:
//
//	readiness off (/readyz 503, gRPC NOT_SERVING) → drain delay →
//	stop units in reverse start order under one hard deadline.
//
// Units are wired so the reverse order is the documented one: a service's
// handlers (consumers, relays, workers) stop first, then the servers
// (GracefulStop, forced at the deadline), then the pools.
//
// It is deliberately small: dskit's services/modules and Temporal's fx
// wiring solve the same problem with far more machinery than we need.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Unit is one thing with a start and a stop. Start must return once the unit
// is running (long work goes in a goroutine it owns); a unit that fails later
// reports it through the Fail function passed to Start's context (see Fail).
type Unit struct {
	Name  string
	Deps  []string
	Start func(ctx context.Context) error
	Stop  func(ctx context.Context) error
}

// Readiness is what the runner flips when it starts and stops serving.
type Readiness interface {
	SetReady(ready bool)
}

// Runner owns an ordered set of units.
type Runner struct {
	Log        *slog.Logger
	Readiness  []Readiness
	DrainDelay time.Duration
	Timeout    time.Duration // hard deadline for stopping, after the drain delay

	units   map[string]*Unit
	started []*Unit
	served  bool // readiness was reported; only then is a drain needed
	failed  chan error
}

// Add registers a unit; names must be unique.
func (r *Runner) Add(u Unit) error {
	if r.units == nil {
		r.units = map[string]*Unit{}
	}
	if u.Name == "" {
		return errors.New("lifecycle: unit without a name")
	}
	if _, dup := r.units[u.Name]; dup {
		return fmt.Errorf("lifecycle: unit %q added twice", u.Name)
	}
	r.units[u.Name] = &u
	return nil
}

// Order returns the units in start order: dependencies first, ties broken by
// name so the order is stable.
func (r *Runner) Order() ([]string, error) {
	order, err := r.sort()
	names := make([]string, len(order))
	for i, u := range order {
		names[i] = u.Name
	}
	return names, err
}

func (r *Runner) sort() ([]*Unit, error) {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var out []*Unit
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		u, ok := r.units[name]
		if !ok {
			return fmt.Errorf("lifecycle: %s depends on unknown unit %q", path[len(path)-1], name)
		}
		switch state[name] {
		case visiting:
			return fmt.Errorf("lifecycle: dependency cycle %v", append(path, name))
		case done:
			return nil
		}
		state[name] = visiting
		deps := append([]string(nil), u.Deps...)
		sort.Strings(deps)
		for _, d := range deps {
			if err := visit(d, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = done
		out = append(out, u)
		return nil
	}
	names := make([]string, 0, len(r.units))
	for n := range r.units {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := visit(n, []string{n}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

type failKey struct{}

// Fail reports that the unit whose Start received ctx has failed after
// starting; the runner then shuts everything down and Run returns err.
func Fail(ctx context.Context, err error) {
	if f, ok := ctx.Value(failKey{}).(func(error)); ok {
		f(err)
	}
}

// Adopt registers something already running, such as a pool opened during
// setup. Adopted units stop after every unit Start started, in reverse order
// of adoption; Shutdown before Start closes just them.
func (r *Runner) Adopt(name string, stop func(ctx context.Context) error) {
	r.started = append(r.started, &Unit{Name: name, Stop: stop})
}

// Run starts every unit, marks the process ready, waits until ctx is done or
// a unit fails, then shuts down. It returns the first failure, if any.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.Start(ctx); err != nil {
		return err
	}
	return r.Wait(ctx)
}

// Wait blocks after Start until ctx is done or a unit fails, then shuts down.
func (r *Runner) Wait(ctx context.Context) error {
	var failure error
	select {
	case <-ctx.Done():
		r.log().Info("shutting down", "reason", context.Cause(ctx))
	case failure = <-r.failed:
		r.log().Error("unit failed; shutting down", "err", failure)
	}
	return errors.Join(failure, r.Shutdown())
}

// Start starts the units in order. If one fails, those already started are
// stopped and the error is returned.
func (r *Runner) Start(ctx context.Context) error {
	order, err := r.sort()
	if err != nil {
		return err
	}
	r.failed = make(chan error, len(order))
	var once sync.Once
	fail := func(err error) { once.Do(func() { r.failed <- err }) }
	// Units keep running after Start returns, so their context must outlive
	// the caller's; they stop through Stop, not cancellation.
	unitCtx := context.WithValue(context.WithoutCancel(ctx), failKey{}, fail)
	for _, u := range order {
		t0 := time.Now()
		if u.Start != nil {
			if err := u.Start(unitCtx); err != nil {
				err = fmt.Errorf("start %s: %w", u.Name, err)
				r.log().Error("start failed", "unit", u.Name, "err", err)
				return errors.Join(err, r.stopStarted(context.Background()))
			}
		}
		r.started = append(r.started, u)
		r.log().Debug("started", "unit", u.Name, "took", time.Since(t0))
	}
	r.setReady(true)
	r.served = true
	return nil
}

// Shutdown runs the drain sequence and stops every started unit in reverse.
// Before Start has succeeded there is nothing to drain, so it only stops.
func (r *Runner) Shutdown() error {
	r.setReady(false)
	if r.served && r.DrainDelay > 0 {
		r.log().Info("draining", "delay", r.DrainDelay)
		time.Sleep(r.DrainDelay)
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return r.stopStarted(ctx)
}

func (r *Runner) stopStarted(ctx context.Context) error {
	var errs []error
	for i := len(r.started) - 1; i >= 0; i-- {
		u := r.started[i]
		if u.Stop == nil {
			continue
		}
		t0 := time.Now()
		if err := u.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", u.Name, err))
			r.log().Error("stop failed", "unit", u.Name, "err", err)
			continue
		}
		r.log().Debug("stopped", "unit", u.Name, "took", time.Since(t0))
	}
	r.started = nil
	return errors.Join(errs...)
}

func (r *Runner) setReady(ready bool) {
	for _, rd := range r.Readiness {
		rd.SetReady(ready)
	}
}

func (r *Runner) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

// Flag is a Readiness backed by an atomic bool, for HTTP /readyz.
type Flag struct{ v atomic.Bool }

// SetReady implements Readiness.
func (f *Flag) SetReady(ready bool) { f.v.Store(ready) }

// Ready reports the current state.
func (f *Flag) Ready() bool { return f.v.Load() }
