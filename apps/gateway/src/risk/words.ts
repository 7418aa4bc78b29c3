// The classifier's vocabulary: word lists and description patterns.

// Word lists. Tool names are split into words (snake, kebab, camel case) and compared
// whole, so "preset" never matches "reset" and "ls" only matches a word "ls".
/** Verbs that delete or overwrite. */
export const DESTROY = new Set(
  "delete del remove rm drop destroy purge erase wipe truncate kill terminate revoke uninstall unlink rmdir shred overwrite".split(
    " ",
  ),
);
// Ending something is destructive only when the upstream or the description says so.
/** Verbs that end something (destructive only with a description saying so). */
export const END = new Set("close cancel stop disable reset clear end abort".split(" "));
/** Verbs that move money. */
export const MONEY_VERBS = new Set(
  "pay payment payments transfer withdraw withdrawal charge refund payout buy sell trade purchase checkout wire swap bid tip donate".split(
    " ",
  ),
);
/** Things with a price. */
export const MONEY_NOUNS = new Set(
  "order orders payment payments funds money invoice trade trades transaction transactions".split(
    " ",
  ),
);
/** Verbs that run code or commands. */
export const EXEC = new Set(
  "exec execute run shell eval evaluate script spawn invoke command cmd bash sh powershell terminal deploy launch kubectl".split(
    " ",
  ),
);
/** Verbs that start an operation on the server. */
export const TRIGGER = new Set(["trigger", "call", "dispatch"]);
/** Verbs that create or open something. */
export const CREATE = new Set("create open start issue generate mint new".split(" "));
/** Things another party can use once issued. */
export const CREDENTIAL = new Set(
  "key token credential credentials session stream listen feed socket subscription password secret apikey".split(
    " ",
  ),
);
/** Verbs that extend what already exists. */
export const HEARTBEAT = new Set("keepalive heartbeat ping renew refresh extend touch".split(" "));
/** Verbs that act in someone's name or reach other people. */
export const AUTHORITY = new Set(
  "publish merge push sign approve grant authorize release share invite send email post".split(" "),
);
/** Verbs that change state. */
export const WRITE = new Set(
  "create add new update edit modify set put upload write insert patch save copy move rename toggle enable start open subscribe unsubscribe comment append register assign tag label mark schedule book reply forward import sync make build apply configure install restart store upsert".split(
    " ",
  ),
);
/** Verbs that read. */
export const READ = new Set(
  "get list read search find fetch describe show query view lookup inspect status info echo check count download head tail stat ls cat explain help version whoami browse retrieve poll scan compute calculate sum convert validate preview print resolve events history summarize analyze details lookup diff compare".split(
    " ",
  ),
);
/** Verbs that transform data. */
export const COMPUTE = new Set(
  "gzip zip compress decompress encode decode hash format transform translate render".split(" "),
);
/** Name words that say a tool exposes secrets. */
export const SECRET_WORDS = new Set(
  "env environment secret secrets password passwords credential credentials token tokens apikey privatekey".split(
    " ",
  ),
);

/** Argument names that carry a sum, price or quantity. */
export const MONEY_ARGS = new Set(
  "amount price quantity qty total currency iban card cardnumber accountnumber value notional".split(
    " ",
  ),
);
/** Argument names that carry a recipient or destination. */
export const DEST_ARGS = new Set(
  "to recipient recipients address email destination channel phone wallet toaddress payee beneficiary".split(
    " ",
  ),
);
/** Argument names that carry a file path. */
export const FILE_ARGS = new Set(
  "path paths file filename filepath dir directory folder source target".split(" "),
);
/** Argument names that carry code or a command. */
export const CODE_ARGS = new Set(
  "command cmd script code shell expression sql program statement".split(" "),
);
/** Argument names that carry a query. */
export const QUERY_ARGS = new Set("query q filter search".split(" "));
/** Argument names that carry a URL. */
export const URL_ARGS = new Set("url uri href endpoint link".split(" "));
/** Argument names that carry a secret. */
export const SECRET_ARGS = /key|secret|token|password|passphrase|signature|authorization/i;

/** A description that says it destroys. */
export const DESC_DESTROY =
  /\b(permanently|irreversibl[ey]|cannot be undone|can't be undone|deletes?|removes?|erases?|wipes?|destroys?)\b/;
// Checked first: "ends the stream for every process" says more than an HTTP verb does.
/** A description that ends something for everyone. */
export const DESC_ENDS_ALL = /\bends the [a-z-]+ for every [a-z]+/;
/** A description that says it moves money. */
export const DESC_MONEY =
  /\b(payments?|pays?|transfers? (?:of )?(?:funds|money)|withdraw(?:s|al)?|refunds?|charges? (?:a|the) (?:card|customer)|places? (?:an? )?orders?|buys?|sells?|money)\b/;
/** A description that says it runs code. */
export const DESC_EXEC =
  /\b(executes?|runs? (?:a |an |the )?(?:shell|command|script|code|program)|shell command|arbitrary code|evaluates? (?:code|javascript|python))\b/;
/** A description that mentions secrets. */
export const DESC_SECRETS =
  /\b(environment variables|secrets?|credentials?|passwords?|private keys?|api keys?)\b/;
/** A description that mentions a live feed of account data. */
export const DESC_FEED =
  /\b(user-data stream|user data stream|live feed|real-time feed|real-time|balances?, orders|listen key)\b/;
/** A description that says it asks the client's model or user. */
export const DESC_SAMPLING = /\b(sampling|llm|elicitation|asks? the user)\b/i;

/** `createOrder`, `create_order`, `create-order` → `["create", "order"]`. */
export function words(text: string): string[] {
  return text
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/** A name lower-cased, without anything but letters and digits. */
export function squash(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, "");
}
