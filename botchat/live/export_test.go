package live

// Received is how many frames NATS has handed to s so far.
func Received(s *Sub) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got
}
