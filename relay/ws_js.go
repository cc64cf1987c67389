package relay

import "net/http"

// mountWS mounts no WebSocket under js/wasm: there the host terminates the
// client connections and hands each to Server.Open over its own Transport.
func (s *Server) mountWS(*http.ServeMux) {}
