package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/parley-im/parley/relay"
)

// uploadFlags adds the attachment flags (relay.Options.Blobs, MaxUpload and
// their siblings) to e. Once e is parsed, apply sets them on o, or reports
// a value that cannot work.
func uploadFlags(e *envFlags) (apply func(o *relay.Options) error) {
	fs := e.fs
	blobs := fs.String("blobs", "local", "where uploaded attachments are kept: local (files in --data/uploads) or s3://BUCKET/PREFIX (an S3-compatible bucket at --s3-endpoint; keys in $PARLEY_S3_ACCESS_KEY and $PARLEY_S3_SECRET_KEY)")
	s3Endpoint := fs.String("s3-endpoint", "", "S3-compatible endpoint URL for --blobs s3://…, e.g. https://s3.eu-central-1.amazonaws.com or https://ACCOUNT.r2.cloudflarestorage.com")
	s3Region := fs.String("s3-region", "auto", "signing region of --s3-endpoint (auto for R2; the bucket's region for Amazon S3)")
	s3PathStyle := fs.Bool("s3-path-style", false, "address the bucket as ENDPOINT/BUCKET (MinIO and most self-hosted services) instead of BUCKET.ENDPOINT")
	maxUpload := fs.Int64("max-upload", relay.DefaultMaxUpload, "largest attachment accepted, in bytes (413, code 4240, above it)")
	types := fs.String("upload-types", strings.Join(relay.DefaultUploadTypes, ","), "comma-separated media types an upload may have: type/subtype, type/* or */* (415, code 4241, otherwise)")
	perMinute := fs.Float64("uploads-per-minute", 60, "uploads one user may start per minute on this node (429, code 4301, above it); negative disables")
	byteRate := fs.Float64("upload-byte-rate", 1<<20, "upload bytes a second one user may send on this node, with a burst of --max-upload (429, code 4301, above it); negative disables")
	for name, variable := range map[string]string{
		"blobs": "PARLEY_BLOBS", "s3-endpoint": "PARLEY_S3_ENDPOINT", "s3-region": "PARLEY_S3_REGION",
		"s3-path-style": "PARLEY_S3_PATH_STYLE", "max-upload": "PARLEY_MAX_UPLOAD", "upload-types": "PARLEY_UPLOAD_TYPES",
		"uploads-per-minute": "PARLEY_UPLOADS_PER_MINUTE", "upload-byte-rate": "PARLEY_UPLOAD_BYTE_RATE",
	} {
		e.bind(name, variable)
	}
	return func(o *relay.Options) error {
		if *maxUpload <= 0 {
			return fmt.Errorf("--max-upload %d is not positive", *maxUpload)
		}
		if *perMinute == 0 || *byteRate == 0 {
			return errors.New("--uploads-per-minute and --upload-byte-rate 0 would refuse every upload; use a negative value to disable")
		}
		o.MaxUpload, o.UploadTypes = *maxUpload, splitList(*types)
		o.UploadsPerMinute, o.UploadByteRate = *perMinute, *byteRate
		switch {
		case *blobs == "local":
			return nil // relay.New's default
		case strings.HasPrefix(*blobs, "s3://"):
			u, err := url.Parse(*blobs)
			if err != nil || u.Host == "" {
				return fmt.Errorf("--blobs %q is not s3://BUCKET/PREFIX", *blobs)
			}
			prefix := strings.TrimPrefix(u.Path, "/")
			if prefix != "" && !strings.HasSuffix(prefix, "/") {
				prefix += "/"
			}
			store, err := relay.NewS3BlobStore(relay.S3Options{
				Endpoint: *s3Endpoint, Region: *s3Region, Bucket: u.Host, Prefix: prefix, PathStyle: *s3PathStyle,
				AccessKey: os.Getenv("PARLEY_S3_ACCESS_KEY"), SecretKey: os.Getenv("PARLEY_S3_SECRET_KEY"),
			})
			if err != nil {
				return fmt.Errorf("--blobs %s: %w (set --s3-endpoint, $PARLEY_S3_ACCESS_KEY and $PARLEY_S3_SECRET_KEY)", *blobs, err)
			}
			o.Blobs = store
			return nil
		}
		return fmt.Errorf("--blobs %q is not local or s3://BUCKET/PREFIX", *blobs)
	}
}
