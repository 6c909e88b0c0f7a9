package mochi

import (
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// ErrorDomain is the domain of the server's google.rpc.ErrorInfo details.
const ErrorDomain = "mochi.v1"

// ErrorReason returns the machine-readable reason of an error from the
// server, such as "SESSION_NOT_FOUND" or "SESSION_BUSY": the reason of the
// google.rpc.ErrorInfo in a gRPC status, or the code of a *StreamError. It
// returns "" for any other error, and for nil.
func ErrorReason(err error) string {
	if se, ok := errors.AsType[*StreamError](err); ok {
		return se.Code
	}
	if info := ErrorInfo(err); info != nil {
		return info.GetReason()
	}
	return ""
}

// ErrorInfo returns the google.rpc.ErrorInfo of the server's domain carried
// by a gRPC status error (its metadata names, e.g., the session_id), or nil.
func ErrorInfo(err error) *errdetails.ErrorInfo {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return nil
	}
	for _, detail := range st.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			return info
		}
	}
	return nil
}
