// Types of `stackProcess.mjs`.

export interface StackProcess {
  readonly pid: number;
  readonly region: string;
  readonly endpoints: {
    readonly dynamodb: string;
    readonly sqs: string;
    readonly sts: string;
    readonly credentials: string;
  };
  readonly directEndpoints: { readonly dynamodb: string; readonly sqs: string };
  /** Exactly the variables the SDK reads to use this stack. */
  readonly env: Readonly<Record<string, string>>;
  /** Sends a command; `at` is when it took effect, on the clock of `now()`. */
  readonly command: <A = unknown>(cmd: string) => Promise<{ readonly at: number; readonly result: A }>;
  /** The authority's current set, as the SDK takes static credentials. */
  readonly credentials: () => Promise<PlainCredentials>;
  /** Points this process at the stack (as `LocalAws.layerEnv` does), for the production layers. */
  readonly useEnv: () => void;
  readonly close: () => Promise<void>;
}

export interface PlainCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

export declare const now: () => number;
export declare const startStack: () => Promise<StackProcess>;
