/**
 * The resolved, frozen shape every subcommand reads. The loader (load.ts) turns a CredProxy-
 * compatible YAML/JSON file into this once; nothing downstream looks at raw config again.
 */

export interface ServerConfig {
  /** Listen address; CredProxy's `localhost` is normalised to 127.0.0.1. */
  readonly host: string;
  readonly port: number;
  /** CredProxy's `server.debug`; we map it to human-readable logs at debug level. */
  readonly debug: boolean;
  readonly logHealthChecks: boolean;
  /** `server.user`: who serve becomes after binding when started as root; absent when not set. `{0, 0}` keeps root. */
  readonly user?: { readonly uid: number; readonly gid: number } | undefined;
  /** `server.health_details`: who gets the per-service detail of /health (default local peers only). */
  readonly healthDetails: "local" | "public";
  /** `server.ecs_metadata` / `--ecs-metadata`: addresses added to lo and served on `port`. */
  readonly ecsMetadata?: { readonly addresses: readonly string[]; readonly port: number } | undefined;
  /** `server.task_metadata` / `--task-metadata`: the ECS task metadata endpoint, every value filled in. */
  readonly taskMetadata?: TaskMetadataConfig | undefined;
}

/** What the ECS task metadata endpoint (v4, v3) reports; see task-metadata-schema.ts. */
export interface TaskMetadataConfig {
  readonly clusterArn: string;
  readonly clusterName: string;
  readonly taskArn: string;
  readonly family: string;
  readonly revision: string;
  readonly serviceName?: string | undefined;
  readonly launchType: "EC2" | "FARGATE" | "EXTERNAL";
  readonly availabilityZone: string;
  /** Taken from the task ARN. */
  readonly region: string;
  readonly account: string;
  readonly container: {
    readonly name: string;
    /** The Docker ID, and the last segment of the metadata URI. */
    readonly id: string;
    readonly image: string;
    readonly imageId?: string | undefined;
    readonly labels: Readonly<Record<string, string>>;
    readonly limits: { readonly cpu: number; readonly memory: number };
    readonly logGroup?: string | undefined;
  };
}

export interface CredentialSettings {
  /** Served credentials keep at least this many seconds of life (default 300). */
  readonly refreshBufferSeconds: number;
  /** Upper bound of the retry back-off after a failed refresh (default 60). */
  readonly retryDelaySeconds: number;
  /** Timeout of one STS / source-credential call (default 30). */
  readonly requestTimeoutSeconds: number;
}

/** Where the credentials used to call sts:AssumeRole come from. */
export type SourceSpec =
  | { readonly kind: "default-chain" }
  | {
      readonly kind: "profile";
      readonly profile: string;
      /** `iam_profile.config_file` (CredProxy parses and ignores it; we honour it). */
      readonly configFile?: string | undefined;
      readonly credentialsFile?: string | undefined;
    }
  | {
      readonly kind: "static";
      readonly accessKeyId: string;
      readonly secretAccessKey: string;
      readonly sessionToken?: string | undefined;
    };

/** sts:AssumeRole parameters, spelled as the STS API spells them (as CredProxy's config does). */
export interface AssumeRoleSpec {
  readonly RoleArn: string;
  readonly RoleSessionName: string;
  readonly DurationSeconds: number;
  readonly ExternalId?: string | undefined;
  readonly Policy?: string | undefined;
  readonly PolicyArns?: readonly { readonly arn: string }[] | undefined;
  readonly Tags?: readonly { readonly Key: string; readonly Value: string }[] | undefined;
  readonly TransitiveTagKeys?: readonly string[] | undefined;
  readonly SerialNumber?: string | undefined;
  readonly TokenCode?: string | undefined;
  readonly SourceIdentity?: string | undefined;
}

export type ServiceOrigin =
  | { readonly kind: "static" }
  | { readonly kind: "dynamic"; readonly file: string };

export interface ServiceSpec {
  readonly name: string;
  /** The exact `Authorization` header value that selects this service. Never log it. */
  readonly authToken?: string | undefined;
  /** A secret path (`relative_uri`) that selects this service without a token. Never log it. */
  readonly relativeUri?: string | undefined;
  readonly region: string;
  readonly source: SourceSpec;
  /** STS endpoint override (config `sts_endpoint`, else AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL). */
  readonly stsEndpoint?: string | undefined;
  readonly assumeRole: AssumeRoleSpec;
  readonly origin: ServiceOrigin;
}

export interface DynamicDirectory {
  readonly path: string;
  /** Regular expressions matched against the file name (not the full path). Empty = all. */
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  /** ${fromFile:…} in this directory's files reads only files inside it; absent: no substitution. */
  readonly secretsDirectory?: string | undefined;
  /** Accept files writable by their group (never by others). */
  readonly allowGroupWritable: boolean;
}

export interface DynamicServicesConfig {
  readonly enabled: boolean;
  readonly directories: readonly DynamicDirectory[];
  readonly reloadIntervalSeconds: number;
}

export interface MetricsConfig {
  /** When false, /metrics answers 404 on the main port and no metrics listener starts. */
  readonly enabled: boolean;
  /** The separate Prometheus listener, present only when `metrics.prometheus` is configured. */
  readonly listener?: { readonly host: string; readonly port: number } | undefined;
}

export interface ResolvedConfig {
  /** Absolute path of the file this came from (for messages). */
  readonly file: string;
  readonly server: ServerConfig;
  readonly credentials: CredentialSettings;
  /**
   * The substituted, validated `aws_defaults` object, kept raw so that dynamic service files
   * can be merged with it the same way static services were.
   */
  readonly awsDefaults: Readonly<Record<string, unknown>>;
  readonly services: readonly ServiceSpec[];
  readonly dynamicServices: DynamicServicesConfig;
  readonly metrics: MetricsConfig;
  /** Non-fatal findings (e.g. DurationSeconds close to the refresh buffer), printed by validate. */
  readonly warnings: readonly string[];
}
