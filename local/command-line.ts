import { parseArgs } from "node:util";

/** A flag of a command-line tool of this repository, with the line `--help` shows for it. */
export interface FlagSpec {
  readonly type: "string" | "boolean";
  readonly description: string;
  /** The flag may be given more than once; its value is then the list of every one given. */
  readonly multiple?: boolean;
}

/** What `parse` returns for a flag: the list of values for a repeatable flag. */
export type FlagValue<Spec extends FlagSpec> = Spec extends { multiple: true } ? string[] : string | boolean;

/** Parsing and help for `npm start` and `npm run bench`: one usage format, one way to fail on a bad flag. */
export class CommandLine<Flags extends Record<string, FlagSpec>> {
  constructor(
    private readonly title: string,
    private readonly flags: Flags,
    /** Extra text after each flag's description, e.g. the environment variable that also sets it. */
    private readonly annotate: (flag: string) => string = () => "",
  ) {}

  usage(): string {
    const width = Math.max(...Object.keys(this.flags).map((flag) => flag.length)) + 2;
    const lines = Object.entries(this.flags).map(
      ([flag, spec]) => `  --${flag.padEnd(width)} ${spec.description}${this.annotate(flag)}`,
    );
    return `Usage: ${this.title} -- [flags]\n\n${lines.join("\n")}\n`;
  }

  /** Prints the problem and the usage to stderr and exits 2. */
  fail(message: string): never {
    process.stderr.write(`${message}\n\n${this.usage()}`);
    process.exit(2);
  }

  /** The flags given on the command line; an unknown flag or a positional argument fails with the usage. */
  parse(args: string[] = process.argv.slice(2)): { [Flag in keyof Flags]?: FlagValue<Flags[Flag]> } {
    try {
      return parseArgs({ args, options: this.flags, strict: true, allowPositionals: false }).values as {
        [Flag in keyof Flags]?: FlagValue<Flags[Flag]>;
      };
    } catch (error) {
      this.fail(error instanceof Error ? error.message : String(error));
    }
  }
}
