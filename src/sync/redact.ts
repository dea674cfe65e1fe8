// Remote URLs may carry credentials (https://user:token@host/...). Strip them from anything that
// reaches a log line, an error message or status().
const USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi;

export function redactCredentials(text: string): string {
  return text.replace(USERINFO, '$1***@');
}
