// Package botdrive is the botdrive service: the files of bot packages on S3
// or local disk, per organisation, with metadata in schema drive, change
// events through the outbox, text extraction and package import.
//
// Storage: S3 when S3_ENDPOINT (or S3_BUCKET with AWS) is set, else local
// disk under DATA_DIR/drive. The default organisation's packages live in
// $BOTS_DIR instead (default ./bots when S3 is not configured), so a person
// can edit them with any tool; changes there are noticed by a file watcher
// and by a periodic reconcile, and produce the same events as API uploads.
package botdrive

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/botserver-go/botserver-go/botdrive/drive"
	"github.com/botserver-go/botserver-go/botdrive/extract"
	"github.com/botserver-go/botserver-go/botdrive/migrations"
	"github.com/botserver-go/botserver-go/botdrive/pkgimport"
	"github.com/botserver-go/botserver-go/botdrive/presign"
	"github.com/botserver-go/botserver-go/botdrive/storage"
	"github.com/botserver-go/botserver-go/botdrive/storage/local"
	"github.com/botserver-go/botserver-go/botdrive/storage/s3store"
	"github.com/botserver-go/botserver-go/botdrive/watch"
	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/authz"
	"github.com/botserver-go/botserver-go/botstate/lifecycle"
	"github.com/botserver-go/botserver-go/botstate/pg"
	drivev1 "github.com/botserver-go/botserver-go/proto/bot/drive/v1"
)

// Settings are botdrive's own settings.
type Settings struct {
	S3Endpoint         string `env:"S3_ENDPOINT" desc:"S3-compatible endpoint (http://minio:9000). Unset (and no S3_BUCKET): files on local disk under DATA_DIR/drive."`
	S3Region           string `env:"S3_REGION" envDefault:"us-east-1" desc:"S3 region."`
	S3Bucket           string `env:"S3_BUCKET" desc:"S3 bucket holding every org's files (prefix per org). Created at start if missing. Default botserver when S3_ENDPOINT is set."`
	S3AccessKeyID      string `env:"S3_ACCESS_KEY_ID" desc:"S3 access key."`
	S3SecretAccessKey  string `env:"S3_SECRET_ACCESS_KEY" desc:"S3 secret key."`
	S3ForcePathStyle   bool   `env:"S3_FORCE_PATH_STYLE" envDefault:"false" desc:"Path-style bucket URLs (MinIO, versitygw and most self-hosted servers need true)."`
	S3Prefix           string `env:"S3_PREFIX" desc:"Optional key prefix inside the bucket, to share a bucket with other data."`
	S3PresignDirect    bool   `env:"S3_PRESIGN_DIRECT" envDefault:"false" desc:"Presigned URLs point straight at S3 (clients must reach S3_ENDPOINT); otherwise at the gateway (/api/v1/files/signed/...)."`
	S3GatewayDirect    bool   `env:"S3_GATEWAY_DIRECT" envDefault:"true" desc:"The gateway moves file bytes to and from S3 itself (short-lived presigned URLs it never hands out; botdrive still authorises, checks and records every transfer), skipping the gRPC hop. Set false when the gateway cannot reach S3_ENDPOINT."`
	S3DownloadRedirect bool   `env:"S3_DOWNLOAD_REDIRECT" envDefault:"false" desc:"Downloads of S3 files through the API answer 307 to a presigned GET of exactly that object (valid 5 minutes), so the bytes go straight between client and S3: clients must reach S3_ENDPOINT (as with S3_PRESIGN_DIRECT). botdrive still authorises and reads the metadata of every request, but the bytes are not pinned to the recorded version (compare X-Storage-ETag with S3's ETag). Local disk, BOTS_DIR and ?redirect=false: served through the gateway."`
	S3PartSizeMB       int    `env:"S3_PART_SIZE_MB" envDefault:"8" desc:"Multipart upload part size in MiB (at least 5)."`

	BotsDir string `env:"BOTS_DIR" desc:"Folder of the default organisation's bot packages (<bot>.gbai), created if missing; 'off' disables. Unset: ./bots if that folder exists and S3 is not configured."`

	ReconcileInterval        time.Duration `env:"DRIVE_RECONCILE_INTERVAL" envDefault:"5m" desc:"How often all storage is compared with the metadata (changes made directly in the bucket); 0 only at start."`
	BotsDirReconcileInterval time.Duration `env:"BOTS_DIR_RECONCILE_INTERVAL" envDefault:"30s" desc:"How often BOTS_DIR is compared with the metadata, besides the file watcher; 0 only at start."`
	BotsDirWatch             bool          `env:"BOTS_DIR_WATCH" envDefault:"true" desc:"Watch BOTS_DIR for changes (fsnotify) and reconcile the changed packages at once."`

	MaxFileBytes int64  `env:"DRIVE_MAX_FILE_BYTES" envDefault:"1073741824" desc:"Largest file accepted (bytes); S3 copies limit it to 5 GiB."`
	QuotaBytes   int64  `env:"DRIVE_QUOTA_BYTES" envDefault:"0" desc:"Default storage quota per organisation (bytes); 0 unlimited. SetQuota overrides it per org."`
	URLSecret    string `env:"DRIVE_URL_SECRET" desc:"Key (32+ chars) signing gateway presigned URLs; the same on every replica. Unset: a random key per process (URLs die with it)."`

	ExtractMaxBytes int64         `env:"DRIVE_EXTRACT_MAX_BYTES" envDefault:"52428800" desc:"Largest document text is extracted from (bytes)."`
	ExtractMaxPages int           `env:"DRIVE_EXTRACT_MAX_PAGES" envDefault:"500" desc:"Pages/slides/sheets read per document."`
	ExtractTimeout  time.Duration `env:"DRIVE_EXTRACT_TIMEOUT" envDefault:"30s" desc:"Time limit of one extraction."`
	ExtractCacheTTL time.Duration `env:"DRIVE_EXTRACT_CACHE_TTL" envDefault:"24h" desc:"How long extracted text is cached (by content hash)."`

	PackageMaxBytes    int64 `env:"DRIVE_PACKAGE_MAX_BYTES" envDefault:"268435456" desc:"Largest package zip accepted (bytes)."`
	PackageMaxUnpacked int64 `env:"DRIVE_PACKAGE_MAX_UNPACKED" envDefault:"1073741824" desc:"Most bytes a package may unpack to."`
	PackageMaxFiles    int   `env:"DRIVE_PACKAGE_MAX_FILES" envDefault:"5000" desc:"Most entries in a package zip."`
}

// Validate implements config.Validator.
func (s *Settings) Validate() error {
	var errs []error
	if s.S3PartSizeMB < 5 {
		errs = append(errs, errors.New("S3_PART_SIZE_MB must be at least 5"))
	}
	if s.S3DownloadRedirect && !s.useS3() {
		errs = append(errs, errors.New("S3_DOWNLOAD_REDIRECT needs the S3 backend (S3_ENDPOINT or S3_BUCKET)"))
	}
	if s.URLSecret != "" && len(s.URLSecret) < 32 {
		errs = append(errs, errors.New("DRIVE_URL_SECRET must be at least 32 characters"))
	}
	if s.MaxFileBytes <= 0 || s.QuotaBytes < 0 || s.ExtractMaxBytes <= 0 || s.PackageMaxBytes <= 0 || s.PackageMaxUnpacked <= 0 || s.PackageMaxFiles <= 0 {
		errs = append(errs, errors.New("DRIVE_* sizes and counts must be positive (DRIVE_QUOTA_BYTES may be 0)"))
	}
	if s.ReconcileInterval < 0 || s.BotsDirReconcileInterval < 0 || s.ExtractTimeout <= 0 {
		errs = append(errs, errors.New("reconcile intervals must be >= 0 and DRIVE_EXTRACT_TIMEOUT > 0"))
	}
	return errors.Join(errs...)
}

func (s *Settings) useS3() bool { return s.S3Endpoint != "" || s.S3Bucket != "" }

// botsDir is BOTS_DIR after its default: ./bots without S3, off with it.
func (s *Settings) botsDir() string {
	switch {
	case s.BotsDir == "off":
		return ""
	case s.BotsDir != "":
		return s.BotsDir
	case s.useS3():
		return ""
	}
	return "bots"
}

// Service defines botdrive for a service binary or the all-in-one.
func Service() *app.Service {
	settings := &Settings{}
	return &app.Service{
		Name:     "botdrive",
		Health:   drivev1.DriveService_ServiceDesc.ServiceName,
		Schemas:  []pg.Schema{{Name: drive.Schema, FS: migrations.FS}},
		Settings: settings,
		Policy:   Policy,
		Setup: func(ctx context.Context, env *app.Env) error {
			return setup(ctx, env, settings)
		},
	}
}

func setup(ctx context.Context, env *app.Env, s *Settings) error {
	srv, d, err := build(ctx, env.DB, env.Base.DataDir, s, env.Log)
	if err != nil {
		return err
	}
	srv.cache = env.Cache
	drivev1.RegisterDriveServiceServer(env.GRPC, srv)
	r := &reconciler{d: d, pool: env.DB, log: env.Log, every: s.ReconcileInterval, botsEvery: s.BotsDirReconcileInterval}
	if err := env.AddUnit(lifecycle.Unit{Name: "reconcile", Start: r.Start, Stop: r.Stop}); err != nil {
		return err
	}
	if dir := srv.botsDir; dir != "" && s.BotsDirWatch {
		w := &watch.Watcher{Dir: dir, Log: env.Log, OnChange: func(ctx context.Context, bots []string, all bool) {
			if all {
				r.poke()
				return
			}
			for _, b := range bots {
				if _, err := d.ReconcileBot(ctx, authz.DefaultOrgID, b); err != nil {
					env.Log.Warn("BOTS_DIR reconcile", "bot", b, "err", err)
				}
			}
		}}
		if err := env.AddUnit(lifecycle.Unit{Name: "bots-dir-watch", Deps: []string{"reconcile"}, Start: w.Start, Stop: w.Stop}); err != nil {
			return err
		}
	}
	return nil
}

// build opens the storage and makes the Drive and its gRPC server.
func build(ctx context.Context, pool *pgxpool.Pool, dataDir string, s *Settings, log *slog.Logger) (*server, *drive.Drive, error) {
	var main storage.Store
	var presigner storage.Presigner
	var data, redirect storage.DataURLs
	if s.useS3() {
		bucket := s.S3Bucket
		if bucket == "" {
			bucket = "botserver"
		}
		st, err := s3store.Open(ctx, s3store.Config{
			Endpoint: s.S3Endpoint, Region: s.S3Region, Bucket: bucket, AccessKeyID: s.S3AccessKeyID,
			SecretAccessKey: s.S3SecretAccessKey, ForcePathStyle: s.S3ForcePathStyle, Prefix: s.S3Prefix,
			PartSize: int64(s.S3PartSizeMB) << 20, CreateBucket: true,
		})
		if err != nil {
			return nil, nil, err
		}
		main = st
		if s.S3PresignDirect {
			presigner = st
		}
		if s.S3GatewayDirect {
			data = st
		}
		if s.S3DownloadRedirect {
			redirect = st
			log.Info("drive downloads of S3 files are redirected to presigned URLs (S3_DOWNLOAD_REDIRECT)")
		}
		log.Info("drive storage: S3", "endpoint", s.S3Endpoint, "bucket", bucket)
	} else {
		st, err := local.Open(filepath.Join(dataDir, "drive"))
		if err != nil {
			return nil, nil, err
		}
		main = st
		log.Info("drive storage: local disk", "dir", st.Dir())
	}
	opts := drive.Options{Pool: pool, Store: main, MaxFileBytes: s.MaxFileBytes, DefaultQuota: s.QuotaBytes, Log: log}
	dir := s.botsDir()
	if dir != "" && s.BotsDir == "" {
		// The default ./bots is used when it exists (a checkout with the
		// sample bot); it is not created in whatever folder the process
		// happens to start in. An explicit BOTS_DIR is created if missing.
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			log.Info("drive: no ./bots folder: the default organisation's packages are kept with the others (set BOTS_DIR to use a folder)")
			dir = ""
		}
	}
	if dir != "" {
		bd, err := local.Open(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("BOTS_DIR: %w", err)
		}
		opts.BotsDir, opts.DefaultOrg = bd, authz.DefaultOrgID
		log.Info("drive: the default organisation's packages are in BOTS_DIR", "dir", dir)
	}
	d, err := drive.New(opts)
	if err != nil {
		return nil, nil, err
	}
	key := []byte(s.URLSecret)
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		log.Warn("DRIVE_URL_SECRET is not set: presigned URLs are signed with a random key and stop working on restart or on another replica")
	}
	signer, err := presign.New(key)
	if err != nil {
		return nil, nil, err
	}
	srv := &server{
		d: d, log: log, signer: signer, presign: presigner, data: data, redirect: redirect, urlTTL: dataURLTTL,
		extract:  extract.Limits{MaxInput: s.ExtractMaxBytes, MaxPages: s.ExtractMaxPages, Timeout: s.ExtractTimeout},
		pkgLim:   pkgimport.Limits{MaxFiles: s.PackageMaxFiles, MaxTotal: s.PackageMaxUnpacked, MaxFileBytes: s.MaxFileBytes},
		pkgMax:   s.PackageMaxBytes,
		tmpDir:   filepath.Join(dataDir, "drive-tmp"),
		botsDir:  dir,
		cacheTTL: s.ExtractCacheTTL,
	}
	return srv, d, nil
}

// reconciler runs the start-up reconcile and the periodic ones. One replica
// at a time does the work (a Postgres advisory lock); the others skip.
type reconciler struct {
	d         *drive.Drive
	pool      *pgxpool.Pool
	log       *slog.Logger
	every     time.Duration
	botsEvery time.Duration
	stop      context.CancelFunc
	wg        sync.WaitGroup
	kick      chan struct{}
}

// reconcileLock is the advisory lock key of the whole-storage reconcile.
const reconcileLock = 0x64726976 // "driv"

func (r *reconciler) Start(ctx context.Context) error {
	r.kick = make(chan struct{}, 1)
	ctx, r.stop = context.WithCancel(context.WithoutCancel(ctx))
	r.wg.Add(1)
	go r.loop(ctx)
	return nil
}

func (r *reconciler) Stop(context.Context) error {
	if r.stop != nil {
		r.stop()
	}
	r.wg.Wait()
	return nil
}

func (r *reconciler) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *reconciler) loop(ctx context.Context) {
	defer r.wg.Done()
	r.all(ctx) // what changed while the service was down
	tick := func(d time.Duration) <-chan time.Time {
		if d <= 0 {
			return nil
		}
		return time.After(d)
	}
	full, bots := tick(r.every), tick(r.botsEvery)
	for {
		select {
		case <-ctx.Done():
			return
		case <-full:
			r.all(ctx)
			full = tick(r.every)
		case <-r.kick:
			r.all(ctx)
		case <-bots:
			if _, err := r.d.ReconcileBotsDir(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("BOTS_DIR reconcile", "err", err)
			}
			bots = tick(r.botsEvery)
		}
	}
}

func (r *reconciler) all(ctx context.Context) {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("drive reconcile", "err", err)
		}
		return
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, reconcileLock).Scan(&got); err != nil || !got {
		return // another replica is reconciling
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, reconcileLock) //nolint:errcheck
	start := time.Now()
	st, err := r.d.Reconcile(ctx)
	if err != nil && ctx.Err() == nil {
		r.log.Warn("drive reconcile", "err", err)
	}
	r.log.Info("drive reconciled", "scanned", st.Scanned, "hashed", st.Hashed, "changed", st.Changed, "deleted", st.Deleted, "took", time.Since(start).Round(time.Millisecond))
}
