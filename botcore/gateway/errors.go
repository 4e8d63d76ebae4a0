package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error codes of the JSON error format. Clients switch on the code; the
// message is for humans and may change.
const (
	CodeBadRequest       = "bad_request"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodePayloadTooLarge  = "payload_too_large"
	CodeRateLimited      = "rate_limited"
	CodeInternal         = "internal"
	CodeUnavailable      = "unavailable"
)

// ErrorBody is the JSON error format: {"error":{"code":"...","message":"..."}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteError writes the JSON error format with status.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	// A handler may have set these for a body it no longer sends.
	w.Header().Del("Content-Length")
	w.Header().Del("Content-Encoding")
	w.Header().Set("Cache-Control", "no-store")
	WriteJSON(w, status, ErrorBody{ErrorDetail{Code: code, Message: message}})
}

// WriteJSON writes v as JSON with status. A value that cannot be encoded
// is a programming error: the client gets a 500 in the error format.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// DecodeJSON reads one JSON value from r's body into v. On failure it
// writes the error (413 when the body is over the gateway's limit, 400
// otherwise) and returns false; the handler just returns.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("unexpected data after the JSON value")
			if extra != nil {
				err = extra
			}
		}
	}
	if err == nil {
		return true
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		WriteError(w, http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "request body is too large")
	case errors.Is(err, io.EOF):
		WriteError(w, http.StatusBadRequest, CodeBadRequest, "request body is empty")
	default:
		WriteError(w, http.StatusBadRequest, CodeBadRequest, "invalid JSON body: "+err.Error())
	}
	return false
}

// StatusOf maps a backend's gRPC error to the public error: HTTP status,
// error code and message. service names the backend in "unavailable"
// messages; an unexpected error never shows its text.
func StatusOf(err error, service string) (int, string, string) {
	st := status.Convert(err)
	msg := st.Message()
	code, name := http.StatusInternalServerError, CodeInternal
	switch st.Code() {
	case codes.InvalidArgument, codes.OutOfRange:
		code, name = http.StatusBadRequest, CodeBadRequest
	case codes.FailedPrecondition:
		code, name = http.StatusConflict, "failed_precondition"
	case codes.AlreadyExists, codes.Aborted:
		code, name = http.StatusConflict, "conflict"
	case codes.Unauthenticated:
		code, name = http.StatusUnauthorized, CodeUnauthorized
	case codes.PermissionDenied:
		code, name = http.StatusForbidden, CodeForbidden
	case codes.NotFound:
		code, name = http.StatusNotFound, CodeNotFound
	case codes.ResourceExhausted:
		code, name = http.StatusTooManyRequests, CodeRateLimited
	case codes.Unimplemented:
		code, name = http.StatusNotImplemented, "not_implemented"
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		code, name = http.StatusServiceUnavailable, CodeUnavailable
		msg = service + " is unavailable: " + msg
	default:
		msg = "internal error"
	}
	if strings.TrimSpace(msg) == "" {
		msg = http.StatusText(code)
	}
	return code, name, msg
}

// WriteStatus writes a backend's gRPC error in the public error format.
func WriteStatus(w http.ResponseWriter, err error, service string) {
	code, name, msg := StatusOf(err, service)
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	WriteError(w, code, name, msg)
}
