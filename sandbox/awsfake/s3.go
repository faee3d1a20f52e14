package awsfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Backend returns the in-memory S3 store behind the server, for seeding and inspecting
// objects directly.
func (s *Server) Backend() *s3mem.Backend { return s.s3be }

// CreateBucket creates an S3 bucket; an existing bucket is left alone.
func (s *Server) CreateBucket(name string) error {
	err := s.s3be.CreateBucket(name)
	if err != nil && !gofakes3.HasErrorCode(err, gofakes3.ErrBucketAlreadyExists) {
		return fmt.Errorf("creating bucket %s: %w", name, err)
	}
	return nil
}

// PutObject stores an S3 object, creating its bucket as needed.
func (s *Server) PutObject(bucket, key string, body []byte) error {
	if err := s.CreateBucket(bucket); err != nil {
		return err
	}
	if _, err := s.s3be.PutObject(bucket, key, nil, bytes.NewReader(body), int64(len(body)), nil); err != nil {
		return fmt.Errorf("putting s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// s3Request names the S3 operation of a path-style request, for the fault injector and
// the mutation log. Requests it cannot name are "s3:<HTTP method>".
func s3Request(r *http.Request) (op, bucket, key string, mutating bool) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ = strings.Cut(path, "/")
	q := r.URL.Query()
	has := func(k string) bool { _, ok := q[k]; return ok }
	mutating = r.Method == http.MethodPut || r.Method == http.MethodPost || r.Method == http.MethodDelete
	switch {
	case bucket == "" && r.Method == http.MethodGet:
		op = "ListBuckets"
	case key == "":
		switch r.Method {
		case http.MethodGet:
			switch {
			case q.Get("list-type") == "2":
				op = "ListObjectsV2"
			case has("location"):
				op = "GetBucketLocation"
			case has("versioning"):
				op = "GetBucketVersioning"
			case has("versions"):
				op = "ListObjectVersions"
			case has("uploads"):
				op = "ListMultipartUploads"
			default:
				op = "ListObjects"
			}
		case http.MethodHead:
			op = "HeadBucket"
		case http.MethodPut:
			op = "CreateBucket"
			if has("versioning") {
				op = "PutBucketVersioning"
			}
		case http.MethodDelete:
			op = "DeleteBucket"
		case http.MethodPost:
			if has("delete") {
				op = "DeleteObjects"
			}
		}
	default:
		switch r.Method {
		case http.MethodGet:
			op = "GetObject"
		case http.MethodHead:
			op = "HeadObject"
		case http.MethodPut:
			switch {
			case has("uploadId"):
				op = "UploadPart"
			case r.Header.Get("X-Amz-Copy-Source") != "":
				op = "CopyObject"
			default:
				op = "PutObject"
			}
		case http.MethodDelete:
			op = "DeleteObject"
			if has("uploadId") {
				op = "AbortMultipartUpload"
			}
		case http.MethodPost:
			switch {
			case has("uploads"):
				op = "CreateMultipartUpload"
			case has("uploadId"):
				op = "CompleteMultipartUpload"
			}
		}
	}
	if op == "" {
		op = r.Method
	}
	return "s3:" + op, bucket, key, mutating
}

func (s *Server) serveS3(w http.ResponseWriter, r *http.Request) {
	op, bucket, key, mutating := s3Request(r)
	role := s.begin(r, op)
	status := http.StatusOK
	if ferr := s.faults.Hit(r.Context(), op); ferr != nil {
		e := fromFault(ferr)
		s.writeS3Error(w, r, e)
		status = e.Status
	} else {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		s.s3.ServeHTTP(sw, r)
		status = sw.status
	}
	if mutating {
		s.recordMutation(op, s3Input(bucket, key), role, status)
	}
}

// s3Input renders an S3 mutation's parameters; r.URL.Path is already unescaped.
func s3Input(bucket, key string) string {
	in := map[string]string{"Bucket": bucket}
	if key != "" {
		in["Key"] = key
	}
	b, _ := json.Marshal(in)
	return string(b)
}

// writeS3Error answers an S3 REST-XML error: <Error><Code/><Message/><RequestId/></Error>,
// with no body for HEAD (the SDK then names the error from the status).
func (s *Server) writeS3Error(w http.ResponseWriter, r *http.Request, e *apiError) {
	setRetryAfter(w, e)
	id := s.requestID()
	w.Header().Set("X-Amz-Request-Id", id)
	if r.Method == http.MethodHead {
		w.WriteHeader(e.Status)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Error><Code>%s</Code><Message>%s</Message><RequestId>%s</RequestId></Error>`,
		xmlText(e.Code), xmlText(e.Message), id)
}

// statusWriter remembers the status gofakes3 answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (sw *statusWriter) WriteHeader(code int) {
	sw.status = code
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Flush() {
	if f, ok := sw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
