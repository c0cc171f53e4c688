// Packages the docs import that upkeep does not depend on (any YAML parser works; the docs show `yaml`'s).
declare module 'yaml' {
  export function parse(text: string): any;
}
