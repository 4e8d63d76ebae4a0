package events

// SetAfterPublish installs the relay's crash seam: f runs after a batch is
// acked and before it is marked published; an error makes the relay die there.
func SetAfterPublish(o *RelayOptions, f func() error) { o.afterPublish = f }

// Published counts the events this relay marked published.
func (r *Relay) Published() int64 { return r.published.Load() }
