package awsfake

import (
	"encoding/json"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"
)

// jsonService is one awsJson1_0 / awsJson1_1 service: POST / with the operation in
// X-Amz-Target ("<target>.<Operation>") and JSON in both directions.
type jsonService struct {
	// name is the fault-injector prefix, e.g. "logs".
	name string
	// target is the X-Amz-Target prefix without the dot, e.g. "Logs_20140328".
	target string
	// contentType is application/x-amz-json-1.0 or -1.1.
	contentType string
	// errorPrefix is prepended to error codes in __type, e.g.
	// "com.amazonaws.dynamodb.v20120810#".
	errorPrefix string
	// crc32 adds X-Amz-Crc32 (CRC-32 IEEE of the body) to every response, which the
	// DynamoDB client validates.
	crc32 bool
	ops   map[string]operation
}

var jsonServices = []*jsonService{
	{name: "logs", target: "Logs_20140328", contentType: "application/x-amz-json-1.1", ops: logsOps},
	{name: "dynamodb", target: "DynamoDB_20120810", contentType: "application/x-amz-json-1.0",
		errorPrefix: "com.amazonaws.dynamodb.v20120810#", crc32: true, ops: dynamoOps},
	{name: "secretsmanager", target: "secretsmanager", contentType: "application/x-amz-json-1.1", ops: secretsOps},
}

func (s *Server) serveJSON(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	prefix, name, _ := strings.Cut(target, ".")
	var svc *jsonService
	for _, js := range jsonServices {
		if js.target == prefix {
			svc = js
		}
	}
	if svc == nil {
		s.begin(r, "unknown:"+target)
		generic := &jsonService{contentType: "application/x-amz-json-1.1"}
		s.writeJSONError(w, generic, errorf(http.StatusBadRequest, "UnknownOperationException", "no service for X-Amz-Target %q", target))
		return
	}
	op := svc.name + ":" + name
	role := s.begin(r, op)
	in, err := readBody(r)
	if err != nil {
		s.writeJSONError(w, svc, errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "%v", err))
		return
	}
	o, known := svc.ops[name]
	status := http.StatusOK
	if ferr := s.faults.Hit(r.Context(), op); ferr != nil {
		e := fromFault(ferr)
		s.writeJSONError(w, svc, e)
		status = e.Status
	} else if !known {
		s.writeJSONError(w, svc, errorf(http.StatusBadRequest, "UnknownOperationException", "no operation %s", target))
		return
	} else if out, err := o.run(s, in); err != nil {
		e := asAPIError(err, "InternalFailure")
		s.writeJSONError(w, svc, e)
		status = e.Status
	} else {
		s.writeJSONBody(w, svc, http.StatusOK, out)
	}
	if o.mutating {
		s.recordMutation(op, string(in), role, status)
	}
}

func (s *Server) writeJSONBody(w http.ResponseWriter, svc *jsonService, status int, out any) {
	b, err := json.Marshal(out)
	if err != nil {
		b = []byte("{}")
	}
	w.Header().Set("Content-Type", svc.contentType)
	w.Header().Set("X-Amzn-Requestid", s.requestID())
	if svc.crc32 {
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10))
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeJSONError answers an awsJson error: {"__type","message"} with a 4xx/5xx status.
func (s *Server) writeJSONError(w http.ResponseWriter, svc *jsonService, e *apiError) {
	setRetryAfter(w, e)
	s.writeJSONBody(w, svc, e.Status, map[string]string{"__type": svc.errorPrefix + e.Code, "message": e.Message})
}
