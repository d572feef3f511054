import yoctoSpinner from "yocto-spinner";

export interface OutputStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

/**
 * Results go to stdout, everything else (progress, hints, errors) to stderr. With --json, stdout carries exactly
 * one JSON document, errors included, and nothing is written to stderr.
 */
export class Output {
  constructor(
    readonly json: boolean,
    private readonly stdout: OutputStream,
    private readonly stderr: OutputStream,
    private readonly env: Readonly<Record<string, string | undefined>> = {},
  ) {}

  /** The command's result: `data` as JSON, or `lines` for people. */
  result(data: unknown, lines: string[]): void {
    if (this.json) this.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
    else if (lines.length > 0) this.stdout.write(`${lines.join("\n")}\n`);
  }

  /** A remark for people (a hint, a saved file); silent with --json. */
  note(text: string): void {
    if (!this.json) this.stderr.write(`${text}\n`);
  }

  error(message: string, data: Record<string, unknown>): void {
    if (this.json) this.stdout.write(`${JSON.stringify({ error: { message, ...data } }, null, 2)}\n`);
    else this.stderr.write(`couchgen: ${message}\n`);
  }

  /** A spinner on a terminal, one line per state change otherwise, nothing with --json. */
  progress(label: string): Progress {
    if (this.json) return new SilentProgress();
    const interactive = Boolean(this.stderr.isTTY) && this.env.TERM !== "dumb" && !("CI" in this.env);
    return interactive
      ? new SpinnerProgress(label, this.stderr as NodeJS.WriteStream)
      : new LineProgress(label, this.stderr);
  }
}

/** Rows as columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function formatColumns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [index, cell] of row.entries()) widths[index] = Math.max(widths[index] ?? 0, cell.length);
  }
  return rows.map((row) =>
    row
      .map((cell, index) => (index === row.length - 1 ? cell : cell.padEnd(widths[index] ?? 0)))
      .join("  ")
      .trimEnd(),
  );
}

export interface Progress {
  /**
   * The job's current state (QUEUED, WAITING, RUNNING, or a description while it is not known yet), and what changes
   * while it lasts (how long it has waited): a line per state shows the detail of its first poll only.
   */
  update(state: string, detail?: string): void;
  succeed(text: string): void;
  fail(text: string): void;
  /** Leaves the terminal clean (cursor shown, spinner line cleared). */
  stop(): void;
}

class SilentProgress implements Progress {
  update(): void {}
  succeed(): void {}
  fail(): void {}
  stop(): void {}
}

export function formatElapsed(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.floor(seconds % 60)} s`;
}

function withDetail(state: string, detail: string | undefined): string {
  return detail ? `${state} ${detail}` : state;
}

class LineProgress implements Progress {
  private readonly started = performance.now();
  private last: string | undefined;

  constructor(
    private readonly label: string,
    private readonly stream: OutputStream,
  ) {}

  update(state: string, detail?: string): void {
    if (state === this.last) return;
    this.last = state;
    this.stream.write(
      `${this.label}: ${withDetail(state, detail)} (${formatElapsed(performance.now() - this.started)})\n`,
    );
  }

  succeed(text: string): void {
    this.stream.write(`${this.label}: ${text}\n`);
  }

  fail(text: string): void {
    this.stream.write(`${this.label}: ${text}\n`);
  }

  stop(): void {}
}

class SpinnerProgress implements Progress {
  private readonly started = performance.now();
  private state = "asking the API";
  private readonly spinner: ReturnType<typeof yoctoSpinner>;
  private readonly ticker: NodeJS.Timeout;

  /** `stream` is a terminal: the spinner moves the cursor on it. */
  constructor(
    private readonly label: string,
    stream: NodeJS.WriteStream,
  ) {
    // couchgen handles Ctrl-C itself (it says how to resume the wait), so the spinner must not exit the process.
    this.spinner = yoctoSpinner({ stream, handleSignals: false });
    this.spinner.start(this.text());
    // The elapsed time moves between polls too.
    this.ticker = setInterval(() => {
      this.spinner.text = this.text();
    }, 200);
    this.ticker.unref();
  }

  private text(): string {
    return `${this.label}: ${this.state} · ${formatElapsed(performance.now() - this.started)}`;
  }

  update(state: string, detail?: string): void {
    this.state = withDetail(state, detail);
    this.spinner.text = this.text();
  }

  succeed(text: string): void {
    clearInterval(this.ticker);
    this.spinner.success(`${this.label}: ${text}`);
  }

  fail(text: string): void {
    clearInterval(this.ticker);
    this.spinner.error(`${this.label}: ${text}`);
  }

  stop(): void {
    clearInterval(this.ticker);
    this.spinner.stop();
  }
}
