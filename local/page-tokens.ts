import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** The Step Functions API's page sizes: 100 unless asked, at most 1,000; 0 means the default. */
export const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;

export class InvalidPageTokenError extends Error {
  override name = "InvalidToken";
}

/**
 * Pages a list as the Step Functions API does, with opaque nextTokens: each names its offset and is signed with this
 * process's key and the request it continues (`scope`: operation and filters), so a token this endpoint did not
 * issue, or one issued for another list, is refused with InvalidToken rather than read as a number. Tokens do not
 * outlive the process; AWS's expire after 24 hours too.
 */
export class PageTokens {
  readonly #key = randomBytes(32);

  page<T>(
    items: readonly T[],
    scope: string,
    request: { maxResults?: unknown; nextToken?: unknown },
    defaultSize = DEFAULT_PAGE_SIZE,
  ): { items: T[]; nextToken?: string } {
    const start =
      request.nextToken === undefined || request.nextToken === null ? 0 : this.#read(request.nextToken, scope);
    const size = pageSize(request.maxResults, defaultSize);
    const end = start + size;
    return { items: items.slice(start, end), ...(end < items.length ? { nextToken: this.#issue(end, scope) } : {}) };
  }

  #issue(offset: number, scope: string): string {
    return `${offset}.${this.#sign(offset, scope)}`;
  }

  #read(token: unknown, scope: string): number {
    const [offsetText = "", signature = ""] = typeof token === "string" ? token.split(".") : [];
    const offset = Number(offsetText);
    const expected = Buffer.from(this.#sign(offset, scope));
    const given = Buffer.from(signature);
    if (
      !/^\d+$/.test(offsetText) ||
      !Number.isSafeInteger(offset) ||
      given.length !== expected.length ||
      !timingSafeEqual(given, expected)
    ) {
      throw new InvalidPageTokenError(
        "Invalid Token: nextToken must be one this endpoint returned for the same request (same operation, ARN and " +
          "filters) since it started",
      );
    }
    return offset;
  }

  #sign(offset: number, scope: string): string {
    return createHmac("sha256", this.#key).update(`${scope}\n${offset}`).digest("base64url");
  }
}

function pageSize(maxResults: unknown, defaultSize: number): number {
  if (typeof maxResults !== "number" || !Number.isInteger(maxResults) || maxResults <= 0) return defaultSize;
  return Math.min(maxResults, MAX_PAGE_SIZE);
}
