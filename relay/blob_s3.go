package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Options configure an S3BlobStore: any S3-compatible service (Amazon S3,
// Cloudflare R2, MinIO, Ceph, …).
type S3Options struct {
	// Endpoint is the service's base URL, e.g. https://s3.eu-central-1.amazonaws.com
	// or https://<account>.r2.cloudflarestorage.com. Required.
	Endpoint string
	// Region is the signing region. Defaults to "auto" (what R2 expects;
	// Amazon S3 needs the bucket's region).
	Region string
	// Bucket holds the blobs. It must exist. Required.
	Bucket string
	// Prefix is put before every key, e.g. "parley/". Defaults to none.
	Prefix string
	// AccessKey and SecretKey sign the requests (AWS Signature V4).
	// Required.
	AccessKey, SecretKey string
	// PathStyle addresses the bucket as <endpoint>/<bucket>/<key> instead
	// of <bucket>.<endpoint>/<key>; MinIO and most self-hosted services
	// want it. Defaults to false.
	PathStyle bool
	// HTTPClient carries the requests. Defaults to http.DefaultClient's
	// transport with no overall timeout (bodies are streamed).
	HTTPClient *http.Client
}

// S3BlobStore is a BlobStore in an S3-compatible bucket: each blob one
// object, its owner in the object's user metadata (x-amz-meta-owner) and
// its media type as the object's Content-Type. A Put is one PutObject of
// the declared length, streamed from the reader with an unsigned payload
// (the body is not read twice to hash it), so nothing is buffered whole.
type S3BlobStore struct {
	c      *s3.Client
	bucket string
	prefix string
}

var _ BlobStore = (*S3BlobStore)(nil)

// NewS3BlobStore returns an S3BlobStore for o. It does not contact the
// service.
func NewS3BlobStore(o S3Options) (*S3BlobStore, error) {
	if o.Endpoint == "" || o.Bucket == "" || o.AccessKey == "" || o.SecretKey == "" {
		return nil, errors.New("relay: S3 blob store needs an endpoint, a bucket, an access key and a secret key")
	}
	if o.Region == "" {
		o.Region = "auto"
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	c := s3.New(s3.Options{
		BaseEndpoint: aws.String(o.Endpoint),
		Region:       o.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, ""),
		UsePathStyle: o.PathStyle,
		HTTPClient:   hc,
		// Checksums only where the API requires them: the default adds a
		// trailing checksum in aws-chunked encoding, which several
		// S3-compatible services do not accept.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	return &S3BlobStore{c: c, bucket: o.Bucket, prefix: o.Prefix}, nil
}

func (s *S3BlobStore) key(k string) *string { return aws.String(s.prefix + k) }

// Put implements BlobStore.
func (s *S3BlobStore) Put(ctx context.Context, key string, r io.Reader, meta BlobMeta) error {
	if err := checkBlobKey(key); err != nil {
		return err
	}
	body := newExactReader(r, meta.Size)
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           s.key(key),
		Body:          body,
		ContentLength: aws.Int64(meta.Size),
		ContentType:   aws.String(meta.ContentType),
	}
	if meta.Owner != "" {
		in.Metadata = map[string]string{"owner": meta.Owner}
	}
	_, err := s.c.PutObject(ctx, in, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	if err != nil {
		// The request fails when the body does; say why in its terms.
		if body.err != nil && body.err != io.EOF {
			return blobSizeErr(body.err)
		}
		return fmt.Errorf("relay: S3 put %s: %w", key, err)
	}
	if body.left != 0 {
		return ErrBlobSize
	}
	return nil
}

// Get implements BlobStore.
func (s *S3BlobStore) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := checkBlobKey(key); err != nil {
		return nil, err
	}
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: s.key(key)}
	switch {
	case length == 0:
		// A Range cannot say "no bytes"; there is nothing to fetch.
		return io.NopCloser(strings.NewReader("")), nil
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	case off > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	out, err := s.c.GetObject(ctx, in)
	if err != nil {
		if isS3NotFound(err) {
			return nil, ErrBlobNotFound
		}
		return nil, fmt.Errorf("relay: S3 get %s: %w", key, err)
	}
	return out.Body, nil
}

// Stat implements BlobStore.
func (s *S3BlobStore) Stat(ctx context.Context, key string) (BlobMeta, error) {
	if err := checkBlobKey(key); err != nil {
		return BlobMeta{}, err
	}
	out, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: s.key(key)})
	if err != nil {
		if isS3NotFound(err) {
			return BlobMeta{}, ErrBlobNotFound
		}
		return BlobMeta{}, fmt.Errorf("relay: S3 head %s: %w", key, err)
	}
	m := BlobMeta{Size: aws.ToInt64(out.ContentLength), ContentType: aws.ToString(out.ContentType)}
	for k, v := range out.Metadata {
		if strings.EqualFold(k, "owner") {
			m.Owner = v
		}
	}
	return m, nil
}

// Delete implements BlobStore.
func (s *S3BlobStore) Delete(ctx context.Context, key string) error {
	if err := checkBlobKey(key); err != nil {
		return err
	}
	_, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: s.key(key)})
	if err != nil && !isS3NotFound(err) {
		return fmt.Errorf("relay: S3 delete %s: %w", key, err)
	}
	return nil
}

func isS3NotFound(err error) bool {
	var nsk *s3types.NoSuchKey
	var nf *s3types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		}
	}
	return false
}
