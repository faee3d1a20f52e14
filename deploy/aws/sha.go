package aws

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// MaxHashedArtifact is the largest S3 object whose SHA-256 medic computes by reading it
// when S3 keeps none (most uploads carry neither x-amz-checksum-sha256 nor a sha256
// metadata value). Lambda takes a package of at most 250 MB unzipped, so a zip under
// it is always read.
const MaxHashedArtifact = 256 << 20

// shaCache keeps the SHA-256 medic computed of an object, by bucket, key and ETag: an
// object whose ETag is unchanged has the same bytes, so it is read once.
type shaCache struct {
	mu   sync.Mutex
	sums map[string]string
}

// maxCachedSums bounds the cache; it is emptied when full (artifacts are few).
const maxCachedSums = 4096

func (c *shaCache) get(k string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sums[k]
	return s, ok
}

func (c *shaCache) put(k, sum string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sums == nil || len(c.sums) >= maxCachedSums {
		c.sums = map[string]string{}
	}
	c.sums[k] = sum
}

// storedSHA256 is the object's base64 SHA-256 as S3 keeps it: its full-object
// checksum, or the sha256 metadata value the uploader set; "" when neither (a
// multipart upload's composite checksum is not the object's SHA-256).
func storedSHA256(head *s3.HeadObjectOutput) string {
	sum := sdkaws.ToString(head.ChecksumSHA256)
	if sum == "" {
		sum = head.Metadata["sha256"]
	}
	if head.ChecksumType == s3types.ChecksumTypeComposite || strings.Contains(sum, "-") {
		return ""
	}
	return sum
}

// errTooLarge is an object over MaxHashedArtifact, whose SHA-256 medic does not compute.
var errTooLarge = errors.New("too large to read for its SHA-256")

// objectSHA256 returns the base64 SHA-256 of s3://bucket/key: the one S3 keeps, or,
// when it keeps none, the one computed by reading the object (at most
// MaxHashedArtifact bytes; cached by ETag). computed says it was read.
func (p *Provider) objectSHA256(ctx context.Context, c *clients, bucket, key string, head *s3.HeadObjectOutput) (sum string, computed bool, err error) {
	if sum := storedSHA256(head); sum != "" {
		return sum, false, nil
	}
	size := sdkaws.ToInt64(head.ContentLength)
	if size > MaxHashedArtifact {
		return "", false, errTooLarge
	}
	// An ETag is a single-part upload's MD5: with the modification time beside it, a
	// replaced object is never taken for the one read before.
	etag := sdkaws.ToString(head.ETag)
	ck := bucket + "\x00" + key + "\x00" + etag + "\x00" + sdkaws.ToTime(head.LastModified).UTC().Format(time.RFC3339Nano)
	if etag != "" {
		if sum, ok := p.sums.get(ck); ok {
			return sum, true, nil
		}
	}
	in := &s3.GetObjectInput{Bucket: sdkaws.String(bucket), Key: sdkaws.String(key)}
	if etag != "" {
		in.IfMatch = sdkaws.String(etag) // the bytes the ETag names, or an error
	}
	out, err := c.s3.GetObject(ctx, in)
	if err != nil {
		return "", false, wrap("S3", "GetObject", "s3://"+bucket+"/"+key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(out.Body, MaxHashedArtifact+1))
	if err != nil {
		return "", false, wrap("S3", "GetObject", "s3://"+bucket+"/"+key, err)
	}
	if n > MaxHashedArtifact {
		return "", false, errTooLarge
	}
	if n != size {
		return "", false, fmt.Errorf("s3://%s/%s: read %d bytes, HeadObject said %d", bucket, key, n, size)
	}
	sum = base64.StdEncoding.EncodeToString(h.Sum(nil))
	if etag != "" {
		p.sums.put(ck, sum)
	}
	return sum, true, nil
}
