/** Renew at two thirds of the lifetime: early enough to survive a server outage of a third. */
export function renewalTime(notBefore: number, notAfter: number): number {
  return notBefore + Math.floor(((notAfter - notBefore) * 2) / 3);
}

export function needsRenewal(now: number, notBefore: number, notAfter: number): boolean {
  return now >= renewalTime(notBefore, notAfter);
}
