/** The local stack will not start, for a reason the user can fix: the message says what to change, in one line. */
export class StartRefusedError extends Error {
  override name = "StartRefusedError";
}

/** A fixed port is taken: the message says which and how to choose another. */
export class PortInUseError extends StartRefusedError {
  override name = "PortInUseError";
}

/** Another stack, still running, holds the data directory's lock. */
export class DataDirInUseError extends StartRefusedError {
  override name = "DataDirInUseError";
}

/** `--fresh` was asked to empty a directory that is not a local stack's data directory. */
export class NotADataDirError extends StartRefusedError {
  override name = "NotADataDirError";
}
