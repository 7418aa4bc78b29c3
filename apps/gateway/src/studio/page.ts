export const STUDIO_HTML = "<!doctype html><title>studio</title>";
export const STUDIO_JS = "";
export const STUDIO_CSS = "";
