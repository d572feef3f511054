// Just the parts of these untyped emulator packages that emulators.ts uses.
declare module "dynalite" {
  import type { Server } from "node:http";

  interface DynaliteOptions {
    path?: string;
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
  }
  export default function dynalite(options?: DynaliteOptions): Server;
}

declare module "s3rver" {
  import type { AddressInfo } from "node:net";

  interface S3rverOptions {
    port?: number;
    address?: string;
    silent?: boolean;
    directory?: string;
    allowMismatchedSignatures?: boolean;
  }
  export default class S3rver {
    constructor(options?: S3rverOptions);
    run(): Promise<AddressInfo>;
    close(): Promise<void>;
  }
}

declare module "s3rver/lib/models/account.js" {
  /** s3rver's accounts: a static registry of access key id → account, and the one account it creates. */
  const S3rverAccount: { registry: Map<string, unknown>; DUMMY_ACCOUNT: unknown };
  export default S3rverAccount;
}
