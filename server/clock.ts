// Time is injected: domain functions take a Clock so tests can move it; production uses the system clock.
export type Clock = () => Date;
export const systemClock: Clock = () => new Date();
